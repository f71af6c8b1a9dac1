import { Prisma, type PrismaClient, type UpstreamSource } from './client.js';

/** How Orchard authenticates to an upstream. */
export type UpstreamAuthType = 'none' | 'basic' | 'bearer';

/** A new upstream, as the admin API receives it. */
export interface CreateUpstreamInput {
  name: string;
  url: string;
  /** Default: the column default (prisma/schema.prisma); callers pass their registry protocol. */
  protocol?: string;
  /** Lower comes first; default 100. */
  priority?: number;
  /** Default true. */
  enabled?: boolean;
  /** Default "none". */
  authType?: UpstreamAuthType;
  /** basic: "user:password"; bearer: the token. */
  authSecret?: string | null;
}

/** Fields to change on an existing upstream; the name is its identity and cannot change. */
export type UpdateUpstreamInput = Partial<Omit<CreateUpstreamInput, 'name'>>;

/** An upstream safe to render: the secret replaced by whether one is set. */
export type PublicUpstreamSource = Omit<UpstreamSource, 'authSecret'> & { hasCredentials: boolean };

/** The upstream without its secret, for API responses and logs. */
export function toPublic(source: UpstreamSource): PublicUpstreamSource {
  const { authSecret, ...rest } = source;
  return { ...rest, hasCredentials: authSecret !== null && authSecret !== '' };
}

function isNotFound(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2025';
}

/** Upstreams managed through the admin API. Results carry the secret: pass them through {@link toPublic} before display. */
export class UpstreamRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** All upstreams, by priority then name. */
  async list(): Promise<UpstreamSource[]> {
    return this.prisma.upstreamSource.findMany({ orderBy: [{ priority: 'asc' }, { name: 'asc' }] });
  }

  /** The upstream with this name, or null. */
  async get(name: string): Promise<UpstreamSource | null> {
    return this.prisma.upstreamSource.findUnique({ where: { name } });
  }

  /**
   * Adds an upstream.
   * @throws Prisma.PrismaClientKnownRequestError P2002 when the name is taken
   */
  async create(input: CreateUpstreamInput): Promise<UpstreamSource> {
    return this.prisma.upstreamSource.create({ data: input });
  }

  /** Changes an upstream; null when no upstream has this name. */
  async update(name: string, patch: UpdateUpstreamInput): Promise<UpstreamSource | null> {
    try {
      return await this.prisma.upstreamSource.update({ where: { name }, data: patch });
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Deletes an upstream; false when no upstream has this name. */
  async remove(name: string): Promise<boolean> {
    const { count } = await this.prisma.upstreamSource.deleteMany({ where: { name } });
    return count > 0;
  }
}

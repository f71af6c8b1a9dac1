import type { IndexView, PrismaClient } from './client.js';
import { Prisma } from './client.js';

/** The policy views stored through the admin API. */
export class ViewRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async list(): Promise<IndexView[]> {
    return this.prisma.indexView.findMany({ orderBy: { name: 'asc' } });
  }

  /** Creates or replaces a view's rules (a replacement bumps its revision). @returns whether it was created */
  async put(name: string, protocol: string, rules: Prisma.InputJsonValue): Promise<{ view: IndexView; created: boolean }> {
    const existing = await this.prisma.indexView.findUnique({ where: { name }, select: { name: true } });
    const view = await this.prisma.indexView.upsert({
      where: { name },
      create: { name, protocol, rules },
      update: { protocol, rules, revision: { increment: 1 }, updatedAt: new Date() },
    });
    return { view, created: existing === null };
  }

  /** @returns whether a view was deleted */
  async delete(name: string): Promise<boolean> {
    const { count } = await this.prisma.indexView.deleteMany({ where: { name } });
    return count > 0;
  }
}

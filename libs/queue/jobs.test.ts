import { describe, expect, it } from 'vitest';
import { registeredProtocols } from '../protocol/index.js';
import { extractJobSchema, fetchJobSchema, pageFillJobId, pageFillJobSchema, refreshJobSchema } from './jobs.js';

describe('job payloads carry a registered protocol', () => {
  const protocol = registeredProtocols().primary.name;
  const fetch = { sha256: 'a'.repeat(64), project: 'p', filename: 'p-1.0.tar.gz', url: 'https://files.example/p-1.0.tar.gz', upstream: 'u' };

  it('accepts every registered protocol name', () => {
    for (const name of registeredProtocols().names()) {
      expect(fetchJobSchema.safeParse({ ...fetch, protocol: name }).success).toBe(true);
      expect(refreshJobSchema.safeParse({ protocol: name, project: 'p' }).success).toBe(true);
    }
    expect(extractJobSchema.parse({ protocol, sha256: fetch.sha256, project: 'p', filename: fetch.filename }).protocol).toBe(protocol);
  });

  it('refuses a protocol no adapter is registered for', () => {
    const result = fetchJobSchema.safeParse({ ...fetch, protocol: 'no-such-protocol' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('not a registered protocol');
    expect(refreshJobSchema.safeParse({ project: 'p' }).success).toBe(false);
  });
});

describe('page fill job ids', () => {
  const project = { kind: 'project', protocol: 'pypi', project: 'a:b', seen: 5, generation: 'g', revalidate: true } as const;

  it('name what makes two fills the same, and hold no ":"', () => {
    expect(pageFillJobId(project)).not.toContain(':');
    expect(pageFillJobId({ ...project, revalidate: false })).toBe(pageFillJobId(project));
    expect(pageFillJobId({ ...project, seen: 6 })).not.toBe(pageFillJobId(project));
    expect(pageFillJobId({ ...project, generation: 'h' })).not.toBe(pageFillJobId(project));
    expect(pageFillJobId({ kind: 'root', protocol: 'pypi', seen: 5 })).not.toBe(pageFillJobId(project));
    expect(pageFillJobSchema.safeParse(project).success).toBe(true);
  });
});

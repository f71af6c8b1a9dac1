import { StaticServer, type StaticSite } from './nginx.js';

/**
 * A static npm registry written by `buildNpmRegistry`: `GET /<name>` answers `<name>/index.json`
 * (nginx decodes `%2f`, so npm's `/@scope%2fname` finds `@scope/name/index.json`), `GET
 * /<name>/-/<file>.tgz` the tarball.
 */
const NPM_SITE: StaticSite = {
  types: 'application/json json; application/octet-stream tgz;',
  locations: 'location / { try_files $uri $uri/index.json =404; }',
};

/** nginx serving a static npm registry, tuned as StaticServer is, with an access log to count what each proxy asked of it. */
export class NpmStaticRegistry extends StaticServer {
  constructor(root: string, port: number, workDir: string) {
    super(root, port, workDir, true, NPM_SITE);
  }

  /** Requests logged so far: packument GETs and tarball GETs. */
  async requests(): Promise<{ packuments: number; tarballs: number }> {
    const paths = await this.requestedPaths();
    const tarballs = paths.filter((p) => p.endsWith('.tgz')).length;
    return { packuments: paths.length - tarballs, tarballs };
  }
}

import { execFileSync } from 'node:child_process';

/** Installs Debian packages the bench needs (nginx, wrk, proxpi's Python stack); callers check first what is missing. */
export function aptInstall(packages: string[]): void {
  if (packages.length === 0) return;
  console.log(`installing ${packages.join(', ')} from Debian's packages`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

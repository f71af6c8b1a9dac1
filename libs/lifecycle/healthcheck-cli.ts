/**
 * Container health check without curl or wget in the image:
 *   node dist/libs/lifecycle/healthcheck-cli.js <port> [path]
 * exits 0 when `http://127.0.0.1:<port><path>` (default `/ready`) answers 2xx within 4 s, else 1.
 */
const [portArg, path = '/ready'] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port < 1 || port > 65535 || !path.startsWith('/')) {
  process.stderr.write('usage: healthcheck-cli <port> [/path]\n');
  process.exit(2);
}
fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(4_000) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  () => process.exit(1),
);

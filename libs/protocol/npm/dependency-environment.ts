/** The JSON API's dependency evaluation, which npm has nothing to evaluate for. */
import { EnvironmentQueryError } from '../errors.js';
import type { DependencyEnvironment } from '../types.js';

/**
 * npm dependencies carry no conditions (no markers), so there is no environment to ask for:
 * undefined for an empty query.
 * @throws EnvironmentQueryError naming the first parameter of any other query
 */
export function dependencyEnvironment(query: Record<string, unknown>): DependencyEnvironment | undefined {
  const [parameter] = Object.keys(query);
  if (parameter === undefined) return undefined;
  throw new EnvironmentQueryError(`unknown query parameter ${JSON.stringify(parameter)}: npm dependencies are not conditional`);
}

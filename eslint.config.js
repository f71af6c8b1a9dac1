import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * ESLint (flat config): ESLint's and typescript-eslint's recommended sets, plus the two type-aware
 * promise rules the style guide asks for (no floating promises, no promise where a void callback or
 * a condition is expected).
 *
 * Type information comes from the project's own tsconfigs: tsconfig.json (libs, services, scripts),
 * tsconfig.test.json (test, bench, and the unit tests and contracts beside the code), and
 * tsconfig.eslint.json for the root config files neither includes. `projectService` is not used:
 * it finds only files named tsconfig.json, so test files would have no project.
 */
export default defineConfig(
  { ignores: ['dist/', 'coverage/', 'data/', 'libs/db/generated/', 'bench/.corpus/', 'bench/results/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './tsconfig.test.json', './tsconfig.eslint.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // A leading underscore marks a binding kept on purpose: an express error handler's fourth
      // parameter, a property dropped from a rest copy (`const { kind: _kind, ...options } = x`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    // Tests walk parsed JSON and YAML bodies loosely; production code has no `any`, and keeps the rule.
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);

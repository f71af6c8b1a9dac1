import { describe, expect, it } from 'vitest';
import { ACCEPTABLE_TYPES, negotiatePageFormat } from './negotiate-format.js';

const FULL = { format: 'json', contentType: 'application/json' };
const ABBREVIATED = { format: 'abbreviated', contentType: 'application/vnd.npm.install-v1+json' };

describe('negotiatePageFormat', () => {
  it('gives npm and pnpm the abbreviated packument', () => {
    expect(negotiatePageFormat('application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*')).toEqual(ABBREVIATED);
    expect(negotiatePageFormat('application/vnd.npm.install-v1+json')).toEqual(ABBREVIATED);
  });

  it('gives the full packument for application/json, */* and no Accept', () => {
    expect(negotiatePageFormat('application/json')).toEqual(FULL);
    expect(negotiatePageFormat('*/*')).toEqual(FULL);
    expect(negotiatePageFormat('application/*')).toEqual(FULL);
    expect(negotiatePageFormat(undefined)).toEqual(FULL);
    expect(negotiatePageFormat('  ')).toEqual(FULL);
  });

  it('honours q-values, q=0 refusing', () => {
    expect(negotiatePageFormat('application/vnd.npm.install-v1+json; q=0.5, application/json')).toEqual(FULL);
    expect(negotiatePageFormat('application/vnd.npm.install-v1+json; q=0, */*')).toEqual(FULL);
    expect(negotiatePageFormat('application/json; q=0, */*')).toEqual(ABBREVIATED);
    expect(negotiatePageFormat('application/json;q=0, application/vnd.npm.install-v1+json;q=0')).toBeNull();
  });

  it('answers null (406) when nothing acceptable is asked for', () => {
    expect(negotiatePageFormat('text/html')).toBeNull();
    expect(negotiatePageFormat('application/vnd.pypi.simple.v1+json')).toBeNull();
    expect(ACCEPTABLE_TYPES).toBe('application/vnd.npm.install-v1+json, application/json');
  });

  it('lets the format parameter override the header', () => {
    expect(negotiatePageFormat('application/vnd.npm.install-v1+json', 'full')).toEqual(FULL);
    expect(negotiatePageFormat('application/vnd.npm.install-v1+json', 'json')).toEqual(FULL);
    expect(negotiatePageFormat('text/html', 'abbreviated')).toEqual(ABBREVIATED);
    expect(negotiatePageFormat(undefined, 'html')).toBeNull();
  });
});

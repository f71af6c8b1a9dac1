import { describe, expect, it } from 'vitest';
import { negotiatePageFormat } from '../../libs/protocol/pypi/negotiate-format.js';
import { negotiateEncoding } from './negotiate.js';

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
const HTML_TYPE = 'application/vnd.pypi.simple.v1+html';
const LEGACY = 'text/html; charset=utf-8';

const chosen = (accept: string | undefined, format?: string) => negotiatePageFormat(accept, format)?.contentType ?? null;

describe('negotiatePageFormat', () => {
  it.each([
    ['uv', `${JSON_TYPE}, ${HTML_TYPE};q=0.2, text/html;q=0.01`, JSON_TYPE],
    ['pip 23', `${JSON_TYPE}, ${HTML_TYPE}; q=0.1, text/html; q=0.01`, JSON_TYPE],
    ['pip 22.0 (HTML only)', 'text/html', LEGACY],
    ['a client preferring the v1 HTML', `${HTML_TYPE}, ${JSON_TYPE};q=0.5`, HTML_TYPE],
    ['the latest+json alias', 'application/vnd.pypi.simple.latest+json', JSON_TYPE],
    ['the latest+html alias', 'application/vnd.pypi.simple.latest+html', HTML_TYPE],
    ['a browser', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', LEGACY],
    ['curl', '*/*', LEGACY],
    ['application/*', 'application/*', HTML_TYPE],
    ['text/*', 'text/*;q=0.3', LEGACY],
    ['q decides over order', `text/html;q=0.4, ${JSON_TYPE};q=0.9`, JSON_TYPE],
    ['equal q: a named JSON beats a named text/html', `text/html, ${JSON_TYPE}`, JSON_TYPE],
    ['equal q: a named type beats a wildcard match', 'text/html;q=0.5, */*;q=0.5', LEGACY],
    ['the most specific range sets the q', `text/html;q=0.1, */*;q=0.5`, HTML_TYPE],
    ['q=0 refuses a type', `${JSON_TYPE};q=0, text/html;q=0.1`, LEGACY],
    ['case and whitespace are ignored', ` Application/VND.pypi.simple.V1+JSON ;  Q=0.7 , text/html ;q=0.2`, JSON_TYPE],
    ['the higher q of two aliases', `application/vnd.pypi.simple.latest+json;q=0.1, ${JSON_TYPE};q=0.9, text/html;q=0.5`, JSON_TYPE],
  ])('%s', (_, accept, expected) => {
    expect(chosen(accept)).toBe(expected);
  });

  it('answers text/html when there is no Accept header', () => {
    expect(chosen(undefined)).toBe(LEGACY);
    expect(chosen('   ')).toBe(LEGACY);
  });

  it.each([
    ['application/json'],
    ['image/png, application/xml'],
    [`${JSON_TYPE};q=0, ${HTML_TYPE};q=0, text/html;q=0`],
    ['*/*;q=0'],
    [`${JSON_TYPE};q=abc`],
    [`${JSON_TYPE};q=1.5`],
    ['garbage'],
  ])('finds nothing acceptable in %j (406)', (accept) => {
    expect(negotiatePageFormat(accept)).toBeNull();
  });

  it('lets the format parameter override the Accept header', () => {
    expect(chosen('text/html', JSON_TYPE)).toBe(JSON_TYPE);
    expect(chosen(JSON_TYPE, HTML_TYPE)).toBe(HTML_TYPE);
    expect(chosen(JSON_TYPE, 'text/html')).toBe(LEGACY);
    expect(chosen(undefined, 'APPLICATION/VND.PYPI.SIMPLE.LATEST+JSON')).toBe(JSON_TYPE);
    expect(negotiatePageFormat(JSON_TYPE, 'application/json')).toBeNull();
    expect(negotiatePageFormat(JSON_TYPE, '')).toBeNull();
  });

  it('tells the format apart from the content type', () => {
    expect(negotiatePageFormat(JSON_TYPE)).toEqual({ format: 'json', contentType: JSON_TYPE });
    expect(negotiatePageFormat(HTML_TYPE)).toEqual({ format: 'html', contentType: HTML_TYPE });
    expect(negotiatePageFormat('text/html')).toEqual({ format: 'html', contentType: LEGACY });
  });
});

describe('negotiateEncoding', () => {
  it.each([
    [undefined, null],
    ['', null],
    ['gzip, deflate', 'gzip'],
    ['gzip, deflate, br', 'br'],
    ['br;q=0.5, gzip', 'gzip'],
    ['identity', null],
    ['*', 'br'],
    ['*;q=0, gzip', 'gzip'],
    ['br;q=0, gzip;q=0', null],
  ] as const)('%j → %j', (header, expected) => {
    expect(negotiateEncoding(header)).toBe(expected);
  });
});

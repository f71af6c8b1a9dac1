import { describe, expect, it } from 'vitest';
import { parseCoreMetadata } from './core-metadata.js';
import { MetadataError } from './errors.js';

describe('parseCoreMetadata', () => {
  it('parses metadata 2.1 with multiple-use fields and the body as Description', () => {
    const text = [
      'Metadata-Version: 2.1',
      'Name: Foo.Bar',
      'Version: 1.0',
      'Summary: A thing',
      'Requires-Python: >=3.8',
      'Classifier: A',
      'Classifier: B',
      'Requires-Dist: requests (>=2)',
      'Requires-Dist: pytest ; extra == "test"',
      'Provides-Extra: test',
      'Description-Content-Type: text/markdown',
      '',
      '# Foo',
      '',
      'Body: not a header',
      '',
    ].join('\r\n');
    const md = parseCoreMetadata(Buffer.from(text));
    expect(md).toMatchObject({
      metadataVersion: '2.1',
      name: 'Foo.Bar',
      version: '1.0',
      summary: 'A thing',
      requiresPython: '>=3.8',
      requiresDist: ['requests (>=2)', 'pytest ; extra == "test"'],
      providesExtra: ['test'],
      requires: [],
      dynamic: [],
      description: '# Foo\n\nBody: not a header\n',
    });
    expect(md.fields['classifier']).toEqual(['A', 'B']);
    expect(md.fields['description-content-type']).toEqual(['text/markdown']);
    expect(md.invalidUtf8).toBeUndefined();
  });

  it('folds continuation lines; Description keeps lines minus the 8-space / "|" prefix', () => {
    const text = [
      'Metadata-Version: 1.1',
      'Name: foo',
      'Version: 2.0',
      'Summary: a long',
      '    summary',
      'Description: First line',
      '        second line',
      '        ',
      '            indented',
      'License: MIT',
      '        ',
      '        Permission is granted',
      'Keywords: a,b',
      '',
    ].join('\n');
    const md = parseCoreMetadata(text);
    expect(md.summary).toBe('a long summary');
    expect(md.description).toBe('First line\nsecond line\n\n    indented');
    expect(md.fields['license']).toEqual(['MIT\n\nPermission is granted']);
    expect(md.fields['keywords']).toEqual(['a,b']);
  });

  it('strips the PEP 345 "       |" continuation prefix', () => {
    const text = 'Name: foo\nVersion: 1\nDescription: Title\n       |=====\n       |\n       |  code\n';
    expect(parseCoreMetadata(text).description).toBe('Title\n=====\n\n  code');
  });

  it('reads non-UTF-8 bytes as latin-1 and records it', () => {
    const bytes = Buffer.concat([
      Buffer.from('Metadata-Version: 1.0\nName: caf\n'),
      Buffer.from('Version: 1.0\nSummary: Caf'),
      Buffer.from([0xe9]), // é in latin-1, invalid UTF-8
      Buffer.from('\nAuthor: J\u00fcrgen\n'), // valid UTF-8 line stays UTF-8
    ]);
    const md = parseCoreMetadata(bytes);
    expect(md.summary).toBe('Café');
    expect(md.fields['author']).toEqual(['Jürgen']);
    expect(md.invalidUtf8).toBe(true);
  });

  it('parses metadata 1.0 PKG-INFO with Requires', () => {
    const text = 'Metadata-Version: 1.0\nName: old\nVersion: 0.1\nRequires: xml.parsers.expat (>1.0)\nRequires: re\nDescription: UNKNOWN\n';
    const md = parseCoreMetadata(text);
    expect(md.requires).toEqual(['xml.parsers.expat (>1.0)', 're']);
    expect(md.description).toBe('UNKNOWN');
  });

  it('parses metadata 2.4 with License-Expression and Dynamic', () => {
    const text = [
      'Metadata-Version: 2.4',
      'Name: new',
      'Version: 3.0',
      'License-Expression: MIT OR Apache-2.0',
      'License-File: LICENSE',
      'License-File: NOTICE',
      'Dynamic: Requires-Dist',
      'Dynamic: Version',
      '',
      '',
    ].join('\n');
    const md = parseCoreMetadata(text);
    expect(md.licenseExpression).toBe('MIT OR Apache-2.0');
    expect(md.dynamic).toEqual(['Requires-Dist', 'Version']);
    expect(md.fields['license-file']).toEqual(['LICENSE', 'NOTICE']);
    expect(md.description).toBeUndefined();
  });

  it('treats a non-header line as the start of the body, like email.parser', () => {
    const md = parseCoreMetadata('Name: a\nVersion: 1\nnot a header line\nmore\n');
    expect(md.description).toBe('not a header line\nmore\n');
  });

  it('throws MetadataError without Name or Version, or over the size cap', () => {
    expect(() => parseCoreMetadata('Version: 1\n')).toThrow(MetadataError);
    expect(() => parseCoreMetadata('Name: a\nVersion:\n')).toThrow(/Version/);
    expect(() => parseCoreMetadata(Buffer.from('Name: a\nVersion: 1\n'), { maxBytes: 5 })).toThrow(/cap/);
    expect(() => parseCoreMetadata(new Uint8Array([0xff, 0xfe, 0x00]))).toThrow(MetadataError);
  });
});

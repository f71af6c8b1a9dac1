/** Core metadata 1.0–2.4 (METADATA / PKG-INFO) parsing, compatible with `packaging.metadata`. */
import type { CoreMetadata } from '../types.js';
import { MetadataError } from './errors.js';
import { MAX_METADATA_BYTES } from './metadata-bounds.js';

/** Default size cap for METADATA/PKG-INFO bytes (see metadata-bounds.ts). */
export const DEFAULT_MAX_METADATA_BYTES = MAX_METADATA_BYTES;

/** Options for {@link parseCoreMetadata}. */
export interface ParseCoreMetadataOptions {
  /** Largest accepted input, in bytes (default {@link DEFAULT_MAX_METADATA_BYTES}). */
  maxBytes?: number;
}

/** Fields whose continuation lines keep their line breaks (long free text). */
const MULTILINE_FIELDS = new Set(['description', 'license']);
/** RFC 822 field name as Python's email parser accepts it: printable ASCII except `:` and space. */
const HEADER = /^([\x21-\x39\x3b-\x7e]+):(.*)$/;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes to lines. UTF-8 is tried on the whole input first (the common case); on failure each line
 * is decoded on its own and lines that are not UTF-8 are read as latin-1, like packaging does per field.
 */
function decodeLines(data: Uint8Array): { lines: string[]; validUtf8: boolean } {
  try {
    return { lines: strictUtf8.decode(data).split('\n'), validUtf8: true };
  } catch {
    const lines: string[] = [];
    let start = 0;
    while (start <= data.length) {
      let end = data.indexOf(0x0a, start);
      if (end === -1) end = data.length;
      const slice = data.subarray(start, end);
      try {
        lines.push(strictUtf8.decode(slice));
      } catch {
        lines.push(Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength).toString('latin1'));
      }
      start = end + 1;
    }
    return { lines, validUtf8: false };
  }
}

/** Unfolds a multi-line field: strips setuptools' 8-space / PEP 345 `       |` prefixes, else dedents. */
function unfoldMultiline(first: string, continuation: string[]): string {
  const piped = continuation.map((l) => /^[ \t]{0,8}\|/.exec(l));
  const plain = continuation.filter((l, i) => !piped[i] && l.trim() !== '');
  const indent = plain.length === 0 ? 0 : Math.min(...plain.map((l) => /^[ \t]*/.exec(l)![0].length));
  const rest = continuation.map((l, i) => {
    const pipe = piped[i];
    if (pipe) return l.slice(pipe[0].length);
    return l.trim() === '' ? '' : l.slice(indent);
  });
  const head = first.trim();
  return (head === '' ? rest : [head, ...rest]).join('\n').trimEnd();
}

function unfold(name: string, first: string, continuation: string[]): string {
  if (continuation.length === 0) return first.trim();
  if (MULTILINE_FIELDS.has(name)) return unfoldMultiline(first, continuation);
  return [first, ...continuation]
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

/**
 * Parses METADATA / PKG-INFO. Header fields end at the first blank line (or the first line that is
 * neither a field nor a continuation, as Python's email parser does); the rest is the body, which is
 * the Description in metadata 2.1+ and wins over a `Description` field. Continuation lines fold into
 * the previous field: Description and License keep their line breaks, other fields join with a space.
 * Bytes that are not UTF-8 are read as latin-1 and `invalidUtf8` is set.
 * @throws {MetadataError} when the input is over the size cap or has no Name or Version.
 */
export function parseCoreMetadata(data: Buffer | Uint8Array | string, options: ParseCoreMetadataOptions = {}): CoreMetadata {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_METADATA_BYTES;
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  if (size > maxBytes) throw new MetadataError(`metadata is ${size} bytes, over the ${maxBytes}-byte cap`);

  const { lines, validUtf8 } = typeof data === 'string' ? { lines: data.split('\n'), validUtf8: true } : decodeLines(data);
  if (lines[0]?.charCodeAt(0) === 0xfeff) lines[0] = lines[0].slice(1);

  const fields: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  let current: { name: string; first: string; continuation: string[] } | undefined;
  const flush = (): void => {
    if (!current) return;
    (fields[current.name] ??= []).push(unfold(current.name, current.first, current.continuation));
    current = undefined;
  };
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '') {
      i++;
      break;
    }
    if (line[0] === ' ' || line[0] === '\t') {
      current?.continuation.push(line);
      continue;
    }
    const m = HEADER.exec(line);
    if (!m) break; // not a header: the body starts here (email's MissingHeaderBodySeparatorDefect)
    flush();
    current = { name: m[1]!.toLowerCase(), first: m[2]!, continuation: [] };
  }
  flush();
  const body = lines
    .slice(i)
    .map((l) => l.replace(/\r$/, ''))
    .join('\n');

  const first = (name: string): string | undefined => {
    const value = fields[name]?.[0];
    return value === undefined || value === '' ? undefined : value;
  };
  const name = first('name');
  const version = first('version');
  if (name === undefined) throw new MetadataError('missing Name');
  if (version === undefined) throw new MetadataError('missing Version');

  const result: CoreMetadata = {
    name,
    version,
    requiresDist: fields['requires-dist'] ?? [],
    requires: fields['requires'] ?? [],
    providesExtra: fields['provides-extra'] ?? [],
    dynamic: fields['dynamic'] ?? [],
    fields: { ...fields },
  };
  const optional: [keyof CoreMetadata, string][] = [
    ['metadataVersion', 'metadata-version'],
    ['summary', 'summary'],
    ['requiresPython', 'requires-python'],
    ['licenseExpression', 'license-expression'],
  ];
  for (const [key, field] of optional) {
    const value = first(field);
    if (value !== undefined) (result as unknown as Record<string, unknown>)[key] = value;
  }
  const description = body.trim() !== '' ? body : fields['description']?.[0];
  if (description !== undefined) result.description = description;
  if (!validUtf8) result.invalidUtf8 = true;
  return result;
}

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import yauzl from 'yauzl';
import { ValidationError } from '../../domain/errors.ts';

/*
 * Reads the lines of an extract file: a `.txt` file, or the `.txt` entry of a `.zip` (as the
 * Annuaire Santé publishes them). Streamed: only one chunk of the file is in memory at a time.
 * UTF-8; a leading byte-order mark and the CR of CRLF line ends are removed.
 */

export interface ExtractLine {
  /** 1-based line number in the text file (the header is line 1). */
  lineNo: number;
  text: string;
}

export interface ExtractLines extends AsyncIterable<ExtractLine> {
  /** What is read, for summaries: `file.txt`, or `archive.zip:entry.txt`. */
  readonly source: string;
  /** Size of the text: the file size, or the uncompressed size of the zip entry. */
  readonly bytesTotal: number;
  /** Bytes of text consumed so far (uncompressed for a zip entry). */
  bytesRead(): number;
  /** Releases the file. Iterating to the end (or breaking out of the loop) does it too. */
  close(): Promise<void>;
}

export interface OpenLinesOptions {
  /**
   * When a zip holds several `.txt` entries, the one whose name matches this is taken (when exactly
   * one does). Without it, or when none or several match, several entries are an error.
   */
  preferEntry?: RegExp;
}

/** Opens `file` (`.zip` by its name, anything else is read as text). Throws ValidationError when it can't be opened. */
export async function openExtractLines(file: string, opts: OpenLinesOptions = {}): Promise<ExtractLines> {
  return /\.zip$/i.test(file) ? openZip(file, opts) : openText(file);
}

async function openText(file: string): Promise<ExtractLines> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (e) {
    throw new ValidationError('file', 'extract.open', `cannot read ${file}: ${(e as Error).message}`);
  }
  const counter = { bytes: 0 };
  let stream: Readable | undefined;
  return {
    source: basename(file),
    bytesTotal: size,
    bytesRead: () => counter.bytes,
    async close() {
      stream?.destroy();
    },
    [Symbol.asyncIterator]() {
      stream = createReadStream(file, { highWaterMark: 256 * 1024 });
      return splitLines(stream, counter);
    },
  };
}

async function openZip(file: string, opts: OpenLinesOptions): Promise<ExtractLines> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false });
  } catch (e) {
    throw new ValidationError(
      'file',
      'extract.zip',
      `cannot read ${file} as a zip archive: ${(e as Error).message}`,
    );
  }
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      zip.close();
    }
  };
  try {
    const entry = await pickTextEntry(zip, file, opts.preferEntry);
    const stream = await zip.openReadStreamPromise(entry);
    const counter = { bytes: 0 };
    let started = false;
    return {
      source: `${basename(file)}:${entry.fileName}`,
      bytesTotal: entry.uncompressedSize,
      bytesRead: () => counter.bytes,
      async close() {
        stream.destroy();
        await close();
      },
      [Symbol.asyncIterator]() {
        if (started) throw new Error(`${file}: the lines of a zip entry can be read only once`);
        started = true;
        return closing(splitLines(stream, counter), close);
      },
    };
  } catch (e) {
    await close();
    if (e instanceof ValidationError) throw e;
    throw new ValidationError(
      'file',
      'extract.zip',
      `cannot read ${file} as a zip archive: ${(e as Error).message}`,
    );
  }
}

async function pickTextEntry(zip: yauzl.ZipFile, file: string, prefer?: RegExp): Promise<yauzl.Entry> {
  const texts: yauzl.Entry[] = [];
  const others: string[] = [];
  for await (const entry of zip.eachEntry()) {
    const name = entry.fileName;
    if (name.endsWith('/') || name.startsWith('__MACOSX/')) continue;
    if (/\.txt$/i.test(name)) texts.push(entry);
    else others.push(name);
  }
  if (texts.length === 1) return texts[0]!;
  if (texts.length === 0) {
    const found = others.length ? `it holds ${others.join(', ')}` : 'it is empty';
    throw new ValidationError(
      'file',
      'extract.zip.no-text',
      `${file}: expected one .txt entry in the zip, ${found}`,
    );
  }
  const preferred = prefer ? texts.filter((e) => prefer.test(basename(e.fileName))) : [];
  if (preferred.length === 1) return preferred[0]!;
  throw new ValidationError(
    'file',
    'extract.zip.several-texts',
    `${file}: expected one .txt entry in the zip, found ${texts.length} (${texts.map((e) => e.fileName).join(', ')}); extract the one to import`,
  );
}

/** Runs `onEnd` once the iteration is over, however it ends. */
async function* closing<T>(inner: AsyncGenerator<T>, onEnd: () => Promise<void>): AsyncGenerator<T> {
  try {
    yield* inner;
  } finally {
    await onEnd();
  }
}

/** Splits a byte stream into lines: UTF-8, `\n` or `\r\n` ends, BOM dropped, no trailing empty line. */
async function* splitLines(stream: Readable, counter: { bytes: number }): AsyncGenerator<ExtractLine> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let lineNo = 0;
  const line = (raw: string): ExtractLine => {
    lineNo++;
    let text = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return { lineNo, text };
  };
  try {
    for await (const chunk of stream) {
      counter.bytes += (chunk as Buffer).length;
      const text = pending + decoder.write(chunk as Buffer);
      let start = 0;
      let nl = text.indexOf('\n');
      while (nl !== -1) {
        yield line(text.slice(start, nl));
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      pending = text.slice(start);
    }
    pending += decoder.end();
    if (pending.length > 0) yield line(pending);
  } finally {
    stream.destroy();
  }
}

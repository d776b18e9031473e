// Optional request log: one JSON line per request, appended (never contains credentials: only the user's name).
import * as fs from 'node:fs';

export interface RequestLogEntry {
  t: string;
  method: string;
  path: string;
  query: string;
  status: number;
  user: string | null;
  bytes: number;
  range?: string;
  ms: number;
}

export class RequestLog {
  private readonly out: fs.WriteStream;

  constructor(file: string) {
    this.out = fs.createWriteStream(file, { flags: 'a' });
  }

  write(entry: RequestLogEntry): void {
    this.out.write(`${JSON.stringify(entry)}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }
}

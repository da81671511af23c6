/**
 * Where the Consul ACL token comes from: the config string, else a file
 * (re-read when it changes, so a rotated token is picked up without a
 * restart), else an environment variable (CONSUL_HTTP_TOKEN by default).
 * No token = the anonymous token.
 */
import { readFileSync, statSync } from 'node:fs';

export interface TokenOptions {
  readonly token?: string | undefined;
  readonly token_file?: string | undefined;
  readonly token_env: string;
}

export class TokenSource {
  readonly #o: TokenOptions;
  readonly #env: NodeJS.ProcessEnv;
  #fileToken: string | undefined;
  #fileMtime = -1;
  #checkedAt = 0;

  /** Throws when token_file is set but unreadable: a config error at startup. */
  constructor(o: TokenOptions, env: NodeJS.ProcessEnv = process.env) {
    this.#o = o;
    this.#env = env;
    if (o.token === undefined && o.token_file !== undefined) this.#readFile(true);
  }

  /** Where the token comes from, for logs (never the token itself). */
  get origin(): string {
    if (this.#o.token !== undefined) return 'config';
    if (this.#o.token_file !== undefined) return `file:${this.#o.token_file}`;
    if (this.#env[this.#o.token_env]) return `env:${this.#o.token_env}`;
    return 'anonymous';
  }

  get(): string | undefined {
    if (this.#o.token !== undefined) return this.#o.token;
    if (this.#o.token_file !== undefined) {
      if (Date.now() - this.#checkedAt > 1000) this.#readFile(false);
      return this.#fileToken;
    }
    const v = this.#env[this.#o.token_env];
    return v === undefined || v === '' ? undefined : v.trim();
  }

  #readFile(strict: boolean): void {
    const file = this.#o.token_file!;
    this.#checkedAt = Date.now();
    try {
      const st = statSync(file);
      if (st.mtimeMs === this.#fileMtime) return;
      const text = readFileSync(file, 'utf8').trim();
      this.#fileMtime = st.mtimeMs;
      this.#fileToken = text === '' ? undefined : text;
    } catch (err) {
      if (strict) throw new Error(`consul.token_file: cannot read ${file}: ${(err as Error).message}`, { cause: err });
      // Mid-rotation (file replaced): keep the token we have.
    }
  }
}

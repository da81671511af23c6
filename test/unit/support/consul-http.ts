/**
 * Tiny undici helpers for the Consul-API test server's own tests.
 */
import { request } from 'undici';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => unknown;
  index: number | undefined;
}

export async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(url, {
    method: method as 'GET',
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
  });
  const text = await res.body.text();
  const idx = res.headers['x-consul-index'];
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json: () => JSON.parse(text) as unknown,
    index: typeof idx === 'string' ? Number(idx) : undefined,
  };
}

/** Sorted top-level keys of an object, for shape comparisons against examples/. */
export function keysOf(o: unknown): string[] {
  return Object.keys(o as object).sort();
}

export const EXAMPLES = '/work/shared/consul-api/examples';

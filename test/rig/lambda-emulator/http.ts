// Minimal HTTP helper for emulator tests (global fetch, loopback only, bounded by a timeout).
import type { LambdaEmulator } from "../../fixtures/lambda-emulator";

export interface ApiResponse {
  status: number;
  /** Parsed JSON body, or undefined when the body is empty. */
  body: unknown;
  text: string;
}

export interface CallOptions {
  /** Authorization header value; null sends none. @default `Bearer <emulator key>` */
  authorization?: string | null;
  /** Raw body text instead of JSON.stringify(body). */
  rawBody?: string;
}

export async function call(
  emu: Pick<LambdaEmulator, "baseUrl" | "apiKey">,
  method: string,
  path: string,
  body?: unknown,
  opts: CallOptions = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { accept: "application/json" };
  const auth = opts.authorization === undefined ? `Bearer ${emu.apiKey}` : opts.authorization;
  if (auth !== null) headers.authorization = auth;
  let payload: string | undefined = opts.rawBody;
  if (payload === undefined && body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${emu.baseUrl}${path}`, { method, headers, body: payload, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, text, body: text === "" ? undefined : (JSON.parse(text) as unknown) };
}

/** `body.data` of a success response, typed by the caller. */
export function data<T>(res: ApiResponse): T {
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${res.text}`);
  return (res.body as { data: T }).data;
}

/** `body.error.code` of an error response. */
export function errorCode(res: ApiResponse): string | undefined {
  const b = res.body as { error?: { code?: string } } | undefined;
  return b?.error?.code;
}

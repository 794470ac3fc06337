// Validates HTTP responses against the vendor's OpenAPI 3.1 document (JSON Schema 2020-12
// dialect) with ajv. The whole document is registered once, so `$ref: #/components/schemas/...`
// inside a response schema resolves against it.
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import type { ValidateFunction } from "ajv";

const OPENAPI_FILE_NAME = "lambda-cloud-openapi-1.8.3.json";
const DOC_ID = "lambda-openapi";

/** Where the vendor document lives: an env override, else the copy kept beside the emulator. */
export function openApiCandidates(): string[] {
  const fromEnv = process.env.LAMBDA_OPENAPI_FILE;
  return [...(fromEnv ? [fromEnv] : []), path.resolve(__dirname, "../../fixtures/lambda-emulator/openapi", OPENAPI_FILE_NAME)];
}

export interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { operationId?: string; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown> };
}

export function loadOpenApi(): OpenApiDoc {
  const file = openApiCandidates().find((p) => existsSync(p));
  if (!file) {
    throw new Error(
      `Lambda OpenAPI document ${OPENAPI_FILE_NAME} not found; looked in: ${openApiCandidates().join(", ")}. ` +
        `Set LAMBDA_OPENAPI_FILE to its path.`,
    );
  }
  return JSON.parse(readFileSync(file, "utf8")) as OpenApiDoc;
}

/** JSON pointer escaping for a path segment. */
const esc = (s: string): string => s.replace(/~/g, "~0").replace(/\//g, "~1");

export class OpenApiValidator {
  readonly doc: OpenApiDoc;
  private readonly ajv: Ajv2020;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor() {
    this.doc = loadOpenApi();
    // strict: false because OpenAPI adds keywords JSON Schema does not know (`example` in parameters, ...).
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    // Lambda's own format for firewall sources: IPv4 address with optional /prefix.
    this.ajv.addFormat("ipv4network", /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/([0-9]|[12]\d|3[0-2]))?$/);
    this.ajv.addSchema(this.doc as unknown as object, DOC_ID);
  }

  /** The documented statuses for an operation, e.g. ["200", "401", "403"]. */
  statuses(method: string, template: string): string[] {
    const op = this.doc.paths[template]?.[method.toLowerCase()];
    if (!op) throw new Error(`OpenAPI has no operation ${method} ${template}`);
    return Object.keys(op.responses);
  }

  private compile(pointer: string): ValidateFunction {
    let v = this.cache.get(pointer);
    if (!v) {
      const found = this.ajv.getSchema(`${DOC_ID}#${pointer}`);
      if (!found) throw new Error(`no schema at ${pointer}`);
      v = found;
      this.cache.set(pointer, v);
    }
    return v;
  }

  /** Validator for the JSON body of `status` on `method template`; throws if undocumented. */
  responseValidator(method: string, template: string, status: number): ValidateFunction {
    const documented = this.statuses(method, template);
    if (!documented.includes(String(status))) {
      throw new Error(`${method} ${template} answered ${status}, which the OpenAPI file does not document (documented: ${documented.join(", ")})`);
    }
    return this.compile(
      `/paths/${esc(template)}/${method.toLowerCase()}/responses/${status}/content/${esc("application/json")}/schema`,
    );
  }

  /** Validator for a component schema, e.g. "ApiErrorInternal" (for statuses the paths do not list). */
  componentValidator(name: string): ValidateFunction {
    return this.compile(`/components/schemas/${esc(name)}`);
  }

  /** Returns human-readable schema errors (empty when valid). */
  check(validate: ValidateFunction, body: unknown): string[] {
    if (validate(body)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`);
  }
}

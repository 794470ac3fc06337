/**
 * Container image references: parse and refuse floating ones.
 *
 * Why: `lmsysorg/sglang:latest` (the seed's choice) moves under you, and SGLang renames flags
 * between releases; the pinned tag is what decides which flags are valid, so a floating tag
 * turns a working stack into a boot loop on the next pull.
 */

/** A parsed image reference `[registry/]repository[:tag][@sha256:digest]`. */
export interface ImageRef {
  /** Everything before the tag/digest, e.g. `lmsysorg/sglang` or `localhost:5000/sim`. */
  readonly repository: string;
  /** Tag, if any, e.g. `v0.5.9-cu129`. */
  readonly tag?: string;
  /** Content digest, if any, e.g. `sha256:ab12...`. */
  readonly digest?: string;
}

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const REPO_RE = /^[a-z0-9]+([._-]+[a-z0-9]+)*(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/;
const REGISTRY_RE = /^[A-Za-z0-9.-]+(:[0-9]+)?$/;

/** Pure parse; does not judge (see `validateImageRef`). */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const lastColon = rest.lastIndexOf(":");
  // A colon before the last slash belongs to a registry port, not a tag.
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
  }
  return { repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** Options for `validateImageRef`. */
export interface ImagePolicy {
  /**
   * Accept `:latest` or an untagged reference. Only for throw-away experiments.
   * @default false
   */
  readonly allowLatest?: boolean;
}

/** Every problem with an image reference; empty when usable. */
export function validateImageRef(ref: string | undefined, policy: ImagePolicy = {}): string[] {
  const errors: string[] = [];
  if (ref === undefined || ref.trim() === "") {
    return [`image is required; set a pinned SGLang release such as "lmsysorg/sglang:v0.5.9" (optionally "@sha256:<digest>")`];
  }
  if (/\s/.test(ref)) {
    return [`image "${ref}" contains whitespace; remove it`];
  }
  const parsed = parseImageRef(ref);
  const slash = parsed.repository.indexOf("/");
  const first = slash >= 0 ? parsed.repository.slice(0, slash) : "";
  const hasRegistry = first.includes(".") || first.includes(":") || first === "localhost";
  const path = hasRegistry ? parsed.repository.slice(slash + 1) : parsed.repository;
  if (hasRegistry && !REGISTRY_RE.test(first)) errors.push(`image "${ref}": registry "${first}" is malformed; use host[:port]`);
  if (!REPO_RE.test(path)) {
    errors.push(`image "${ref}": repository "${path}" is malformed; use lowercase letters, digits and . _ - separated by /`);
  }
  if (parsed.tag !== undefined && !TAG_RE.test(parsed.tag)) {
    errors.push(`image "${ref}": tag "${parsed.tag}" is malformed; tags are up to 128 of [A-Za-z0-9_.-], not starting with . or -`);
  }
  if (parsed.digest !== undefined && !DIGEST_RE.test(parsed.digest)) {
    errors.push(`image "${ref}": digest "${parsed.digest}" is malformed; use sha256: followed by 64 lowercase hex digits`);
  }
  const floating = parsed.digest === undefined && (parsed.tag === undefined || parsed.tag === "latest");
  if (floating && policy.allowLatest !== true) {
    errors.push(
      `image "${ref}" is not pinned (${parsed.tag === undefined ? "no tag" : "tag latest"}): it changes under you and SGLang flag names change between releases; pin a release tag such as "${parsed.repository}:v0.5.9" (optionally "@sha256:<digest>"), or set allowLatest: true for a throw-away experiment`,
    );
  }
  return errors;
}

const CONTENT_REF_RE = /^([^@\s]+@)?sha256:[a-f0-9]{64}$/;

/**
 * The reference that names exactly the content that runs: the registry digest (`repo@sha256:...`), or, for an
 * image built on the engine itself and never pushed (the local stack's simulator: it has no registry digest),
 * its image ID (`sha256:...`).
 */
export function contentRef(repoDigest: string, imageId: string): string {
  return repoDigest !== "" ? repoDigest : imageId;
}

/** Whether `ref` names content (a digest or an image ID) rather than a tag that can move. */
export function isContentRef(ref: string): boolean {
  return CONTENT_REF_RE.test(ref);
}

/**
 * What every other replica (and a router running the same image) pulls once the first host has pulled
 * `configured`: what it resolved to, so a tag that moves between two pulls cannot put two builds behind one
 * endpoint. That is the registry digest; an image without one (built or imported on the engine, never pushed:
 * the local stack's simulator) is named by its image ID, which is as exact and which `docker pull`/the provider
 * find on that engine. `configured` only when neither is known.
 */
export function pinnedPullRef(configured: string, firstRepoDigest: string, firstImageId = ""): string {
  return firstRepoDigest !== "" ? firstRepoDigest : firstImageId !== "" ? firstImageId : configured;
}

/**
 * The content reference of `image` as Docker lists it on a host (`docker image inspect`: its ID and repo
 * digests), chosen the way the Docker provider chooses `repoDigest` (the only one; else the one of the
 * configured repository; else none, and `contentRef` falls back to the ID), so a boot-time pull and the provider's pull of one build give the same string.
 */
export function contentRefOf(image: string, imageId: string, repoDigests: readonly string[]): string {
  if (repoDigests.length === 1) return repoDigests[0];
  const repository = parseImageRef(image).repository;
  return repoDigests.find((d) => d.startsWith(`${repository}@`)) ?? imageId;
}

/** One component's image, for `imageDisagreement`. */
export interface ImageRun {
  readonly name: string;
  readonly ref: string;
  /**
   * A reference that may be absent ("", then left out): a host's boot-time pull, which did not happen when the
   * host has no boot work or its pull failed (its serving layer then pulled by itself).
   */
  readonly optional?: boolean;
}

/**
 * Undefined when every component runs the same content; else a message naming each one's reference and the
 * fix. Components given here must be meant to run one image (replicas, their hosts' boot-time pulls; the router
 * when it uses the SGLang image).
 */
export function imageDisagreement(image: string, all: readonly ImageRun[]): string | undefined {
  const runs = all.filter((r) => !(r.optional === true && r.ref === ""));
  const distinct = new Set(runs.map((r) => r.ref));
  const floating = runs.filter((r) => !isContentRef(r.ref));
  if (distinct.size <= 1 && floating.length === 0) return undefined;
  return (
    `image "${image}" resolved to ${distinct.size > 1 ? "different builds" : "a reference that is not a digest"} (${runs.map((r) => `${r.name}: ${r.ref || "<none>"}`).join(", ")}); ` +
    `every replica must run one build: pin it with sglangImage "<repository>:<tag>@sha256:<digest>" (the digest the first replica reports) and run pulumi up again`
  );
}

/**
 * Advice when several hosts will pull `image` by a tag alone: the first replica's resolution pins the others
 * within one deploy, but a host's boot-time pull, and a later deploy on a new host, read the tag again.
 */
export function imagePinAdvice(setting: string, image: string, hosts: number): string | undefined {
  if (hosts <= 1 || parseImageRef(image).digest !== undefined) return undefined;
  return (
    `${setting} "${image}" has no digest: the first replica resolves it and the others pull that digest, but each host's boot-time pull ` +
    `and any later new host read the tag again; pin it: pulumi config set hgx-inference:${setting} ${image}@<digest of the stack output imageDigest>`
  );
}

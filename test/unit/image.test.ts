import { describe, expect, it } from "vitest";
import { contentRef, contentRefOf, imageDisagreement, imagePinAdvice, isContentRef, parseImageRef, pinnedPullRef, validateImageRef } from "../../components/image";

const DIGEST = `sha256:${"a".repeat(64)}`;

describe("parseImageRef", () => {
  it.each([
    ["lmsysorg/sglang:v0.5.9", { repository: "lmsysorg/sglang", tag: "v0.5.9" }],
    ["lmsysorg/sglang", { repository: "lmsysorg/sglang" }],
    [`lmsysorg/sglang:v0.5.9-cu129@${DIGEST}`, { repository: "lmsysorg/sglang", tag: "v0.5.9-cu129", digest: DIGEST }],
    [`lmsysorg/sglang@${DIGEST}`, { repository: "lmsysorg/sglang", digest: DIGEST }],
    ["localhost:5000/hgx/sim", { repository: "localhost:5000/hgx/sim" }],
    ["localhost:5000/hgx/sim:abc", { repository: "localhost:5000/hgx/sim", tag: "abc" }],
  ])("%s", (ref, expected) => {
    expect(parseImageRef(ref)).toEqual(expected);
  });
});

describe("validateImageRef", () => {
  it("accepts pinned tags and digests", () => {
    for (const ref of ["lmsysorg/sglang:v0.5.9", "lmsysorg/sglang:v0.5.9-cu130-runtime", `lmsysorg/sglang@${DIGEST}`,
      `lmsysorg/sglang:v0.5.9@${DIGEST}`, "hgx/sglang-sim:local", "ghcr.io/org/img:1.2", "localhost:5000/x:y"]) {
      expect(validateImageRef(ref), ref).toEqual([]);
    }
  });

  it("refuses latest and untagged unless allowLatest", () => {
    expect(validateImageRef("lmsysorg/sglang:latest")[0]).toMatch(/is not pinned \(tag latest\).*pin a release tag such as "lmsysorg\/sglang:v0.5.9".*allowLatest: true/);
    expect(validateImageRef("lmsysorg/sglang")[0]).toMatch(/is not pinned \(no tag\)/);
    expect(validateImageRef("lmsysorg/sglang:latest", { allowLatest: true })).toEqual([]);
    expect(validateImageRef("lmsysorg/sglang", { allowLatest: true })).toEqual([]);
    // A digest pins even a "latest" tag.
    expect(validateImageRef(`lmsysorg/sglang:latest@${DIGEST}`)).toEqual([]);
  });

  it("names malformed parts", () => {
    expect(validateImageRef(undefined)[0]).toMatch(/image is required/);
    expect(validateImageRef("")[0]).toMatch(/image is required/);
    expect(validateImageRef("Lmsys/SGLang:v1")[0]).toMatch(/repository "Lmsys\/SGLang" is malformed/);
    expect(validateImageRef("lmsysorg/sglang:-bad")[0]).toMatch(/tag "-bad" is malformed/);
    expect(validateImageRef("lmsysorg/sglang@sha256:xyz")[0]).toMatch(/digest "sha256:xyz" is malformed/);
    expect(validateImageRef("lmsysorg/sglang :v1")[0]).toMatch(/whitespace/);
  });
});

describe("one build behind the endpoint", () => {
  const D1 = `lmsysorg/sglang@sha256:${"1".repeat(64)}`;
  const D2 = `lmsysorg/sglang@sha256:${"2".repeat(64)}`;
  const ID = `sha256:${"a".repeat(64)}`;

  it("names what runs by registry digest, else by image ID (an image built on the engine has no digest)", () => {
    expect(contentRef(D1, ID)).toBe(D1);
    expect(contentRef("", ID)).toBe(ID);
    for (const ref of [D1, ID, `localhost:5000/sim@sha256:${"b".repeat(64)}`]) expect(isContentRef(ref)).toBe(true);
    for (const ref of ["lmsysorg/sglang:v0.5.14", "", "sha256:abc", `lmsysorg/sglang:v1@sha256:${"1".repeat(63)}`]) expect(isContentRef(ref)).toBe(false);
  });

  it("the other replicas pull the first one's digest, or the configured reference on an engine without a registry digest", () => {
    expect(pinnedPullRef("lmsysorg/sglang:v0.5.14", D1)).toBe(D1);
    // An image of the engine itself (no registry digest) is pinned by its image ID, as exact as a digest.
    expect(pinnedPullRef("hgx/sglang-sim:local", "", `sha256:${"c".repeat(64)}`)).toBe(`sha256:${"c".repeat(64)}`);
    expect(pinnedPullRef("hgx/sglang-sim:local", "")).toBe("hgx/sglang-sim:local");
  });

  it("refuses replicas on different builds or on a reference that is not a digest, naming each and the fix", () => {
    expect(imageDisagreement("lmsysorg/sglang:v0.5.14", [{ name: "hgx", ref: D1 }, { name: "hgx-2", ref: D1 }, { name: "router", ref: D1 }])).toBeUndefined();
    const split = imageDisagreement("lmsysorg/sglang:v0.5.14", [{ name: "hgx", ref: D1 }, { name: "hgx-2", ref: D2 }]);
    expect(split).toContain("different builds");
    expect(split).toContain(`hgx: ${D1}, hgx-2: ${D2}`);
    expect(split).toContain('sglangImage "<repository>:<tag>@sha256:<digest>"');
    expect(imageDisagreement("x:1", [{ name: "hgx", ref: "" }])).toContain("not a digest (hgx: <none>)");
  });

  it("holds a host's boot-time pull to the replicas' build, and leaves out a host whose boot work pulled nothing", () => {
    const boot = (ref: string) => ({ name: "hgx-2 boot work", ref, optional: true });
    expect(imageDisagreement("lmsysorg/sglang:v0.5.14", [{ name: "hgx", ref: D1 }, { name: "hgx-2", ref: D1 }, boot(D1)])).toBeUndefined();
    expect(imageDisagreement("lmsysorg/sglang:v0.5.14", [{ name: "hgx", ref: D1 }, boot("")])).toBeUndefined();
    // The tag moved between two hosts' boots: the second host's boot work got another build.
    const moved = imageDisagreement("lmsysorg/sglang:v0.5.14", [{ name: "hgx", ref: D1 }, { name: "hgx-2", ref: D1 }, boot(D2)]);
    expect(moved).toContain(`different builds (hgx: ${D1}, hgx-2: ${D1}, hgx-2 boot work: ${D2})`);
    // A replica is never optional: one without a reference still fails.
    expect(imageDisagreement("x:1", [{ name: "hgx", ref: D1 }, { name: "hgx-2", ref: "" }])).toContain("hgx-2: <none>");
  });

  it("advises a digest pin only when several hosts would read a bare tag", () => {
    expect(imagePinAdvice("sglangImage", "lmsysorg/sglang:v0.5.14", 1)).toBeUndefined();
    expect(imagePinAdvice("sglangImage", `lmsysorg/sglang:v0.5.14@sha256:${"1".repeat(64)}`, 3)).toBeUndefined();
    expect(imagePinAdvice("sglangImage", "lmsysorg/sglang:v0.5.14", 2)).toContain("pulumi config set hgx-inference:sglangImage lmsysorg/sglang:v0.5.14@<digest");
  });

  it("names an image as the Docker provider would: the one repo digest, the configured repository's of several, else the image ID", () => {
    const id = `sha256:${"c".repeat(64)}`;
    expect(contentRefOf("lmsysorg/sglang:v0.5.14", id, [D1])).toBe(D1);
    expect(contentRefOf("lmsysorg/sglang:v0.5.14", id, [`mirror.example/sglang@sha256:${"d".repeat(64)}`, D1])).toBe(D1);
    expect(contentRefOf("lmsysorg/sglang:v0.5.14", id, [`a/b@sha256:${"d".repeat(64)}`, `c/d@sha256:${"e".repeat(64)}`])).toBe(id);
    expect(contentRefOf("hgx/sglang-sim:local", id, [])).toBe(id);
  });
});

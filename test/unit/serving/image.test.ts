import { describe, expect, it } from "vitest";
import { parseImageRef, validateImageRef } from "../../../components/serving/image";

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

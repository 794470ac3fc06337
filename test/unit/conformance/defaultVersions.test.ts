import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { SERVING_KEYS } from "../../../components/serving/config";

const root = path.resolve(__dirname, "..", "..", "..");

describe("scripts/conformance/default-versions.sh (what CI fetches and judges)", () => {
  it("prints the SGLang release of the stack's sglangImage default and the router image's sglang-router pin", () => {
    // `.ci/run` fetches the conformance releases through this script before any test runs: when the default moves
    // (as it did into the serving layer's config slice) and the script reads the old place, CI fails at once.
    const printed = execFileSync("bash", [path.join(root, "scripts/conformance/default-versions.sh")], { encoding: "utf8", timeout: 30_000 }).trim();
    const sglang = /:v(\d+\.\d+\.\d+(?:\.post\d+)?)/.exec(SERVING_KEYS.sglangImage.default)?.[1];
    const router = /^sglang-router==(\S+)/m.exec(fs.readFileSync(path.join(root, "scripts/router-image/requirements.txt"), "utf8"))?.[1];
    expect(sglang).toBeDefined();
    expect(router).toBeDefined();
    expect(printed).toBe(`${sglang} ${router}`);
  });
});

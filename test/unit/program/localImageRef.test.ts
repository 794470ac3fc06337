/**
 * `localImageRef`: the local stack names its images by the ID its engine has for the configured tag (the
 * provider's getRemoteImage, answered here by mocks), and keeps the tag when the engine does not have it.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { installPulumiMocks, refuseCall } from "../../fixtures/pulumiMocks";

const ID = `sha256:${"7".repeat(64)}`;
let localImageRef: (ref: string) => pulumi.Output<string>;

beforeAll(async () => {
  await installPulumiMocks({
    stack: "local",
    call: (args) => {
      if (args.token !== "docker:index/getRemoteImage:getRemoteImage") return refuseCall(args);
      // As the provider answers for an image the engine lacks.
      if (args.inputs.name === "hgx/absent:1") throw new Error("did not find docker image 'hgx/absent:1'");
      return { id: ID, name: args.inputs.name, repoDigest: "" };
    },
  });
  ({ localImageRef } = await import("../../../components/stack"));
});

const valueOf = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));

describe("localImageRef", () => {
  it("names a tag the local engine has by its image ID", async () => {
    expect(await valueOf(localImageRef("hgx/sglang-sim:local"))).toBe(ID);
  });

  it("keeps a tag the engine does not have (the first pull fetches it, the others pull what that resolved to)", async () => {
    expect(await valueOf(localImageRef("hgx/absent:1"))).toBe("hgx/absent:1");
  });
});

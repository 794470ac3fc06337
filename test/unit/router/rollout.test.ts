import { describe, expect, it } from "vitest";
import { judgeRollout, type RolloutKey } from "../../../components/router/rollout";

const key: RolloutKey = { workerSpecs: ["a", "a"], routerSpec: "r1", workerPort: 8000 };

describe("judgeRollout", () => {
  it("says nothing on the first deploy or an unchanged one", () => {
    expect(judgeRollout(undefined, key)).toEqual({ warnings: [], infos: [] });
    expect(judgeRollout(key, key)).toEqual({ warnings: [], infos: [] });
  });

  it("calls a worker spec change a rolling change", () => {
    const v = judgeRollout(key, { ...key, workerSpecs: ["b", "b"] });
    expect(v.warnings).toEqual([]);
    expect(v.infos).toEqual([expect.stringMatching(/^rolling change: 2 of 2 workers are replaced one at a time/)]);
  });

  it("warns when the router restarts: its own spec, the number of workers, or their port", () => {
    expect(judgeRollout(key, { ...key, routerSpec: "r2" }).warnings).toEqual([expect.stringMatching(/cannot roll: the router's image or flags changed/)]);
    const grown = judgeRollout(key, { ...key, workerSpecs: ["a", "a", "a"] });
    expect(grown.warnings).toEqual([expect.stringMatching(/the number of workers changes from 2 to 3/)]);
    expect(grown.infos).toEqual([]);
    const moved = judgeRollout(key, { ...key, workerPort: 9000, workerSpecs: ["b", "b"] });
    expect(moved.warnings).toEqual([expect.stringMatching(/workers' port changes from 8000 to 9000/)]);
    expect(moved.infos).toEqual([]);
  });
});

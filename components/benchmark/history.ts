/**
 * `BenchmarkHistory`: the stack's last benchmark result and the one before it, kept in state, so that a re-run can be
 * compared with the previous run of the same stack (`benchmark.comparison.previous`). A dynamic resource with no
 * outside effect: its input is the current run (a `ComparableRun` as JSON); on an update it moves the recorded run to
 * `previous`. An unchanged run (an `up` that did not re-run the benchmark) changes nothing.
 */
import * as pulumi from "@pulumi/pulumi";

export interface BenchmarkHistoryInputs {
  /** The run just measured, as JSON (a `ComparableRun`). */
  current: string;
}

export interface BenchmarkHistoryOutputs extends BenchmarkHistoryInputs {
  /** The run recorded before `current`, as JSON; "" until the stack has run twice. */
  previous: string;
}

/** The record after an update: the old current becomes previous, unless the run did not change. */
export function historyAfterUpdate(olds: BenchmarkHistoryOutputs, news: BenchmarkHistoryInputs): BenchmarkHistoryOutputs {
  if (olds.current === news.current) return { current: news.current, previous: olds.previous ?? "" };
  return { current: news.current, previous: olds.current ?? "" };
}

/** The provider: pure bookkeeping in state (nothing outside the state is created, read or deleted). */
export class BenchmarkHistoryProvider implements pulumi.dynamic.ResourceProvider<BenchmarkHistoryInputs, BenchmarkHistoryOutputs> {
  async check(_olds: BenchmarkHistoryInputs, news: BenchmarkHistoryInputs): Promise<pulumi.dynamic.CheckResult<BenchmarkHistoryInputs>> {
    const failures = typeof news.current === "string" ? [] : [{ property: "current", reason: "current must be the run as a JSON string" }];
    return { inputs: { current: news.current }, failures };
  }

  async diff(_id: string, olds: BenchmarkHistoryOutputs, news: BenchmarkHistoryInputs): Promise<pulumi.dynamic.DiffResult> {
    return { changes: olds.current !== news.current, replaces: [], deleteBeforeReplace: false };
  }

  async create(inputs: BenchmarkHistoryInputs): Promise<{ id: string; outs: BenchmarkHistoryOutputs }> {
    return { id: "benchmark-history", outs: { current: inputs.current, previous: "" } };
  }

  async read(id: string, props?: BenchmarkHistoryOutputs): Promise<pulumi.dynamic.ReadResult<BenchmarkHistoryOutputs>> {
    return { id, props };
  }

  async update(_id: string, olds: BenchmarkHistoryOutputs, news: BenchmarkHistoryInputs): Promise<{ outs: BenchmarkHistoryOutputs }> {
    return { outs: historyAfterUpdate(olds, news) };
  }
}

export interface BenchmarkHistoryArgs {
  /** The run just measured, as JSON. */
  readonly current: pulumi.Input<string>;
}

/** The stack's last two benchmark runs in state (token `pulumi-nodejs:dynamic/benchmark:BenchmarkHistory`). */
export class BenchmarkHistory extends pulumi.dynamic.Resource {
  declare readonly current: pulumi.Output<string>;
  declare readonly previous: pulumi.Output<string>;

  constructor(name: string, args: BenchmarkHistoryArgs, opts?: pulumi.CustomResourceOptions) {
    super(new BenchmarkHistoryProvider(), name, { current: args.current, previous: undefined }, opts, "benchmark", "BenchmarkHistory");
  }
}

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { hostKeyLine, parseHostPublicKey, renderHostKeyCheckScript, type HostKeyPin, type HostKeyScanLimits } from "./hostKey";

export interface HostKeyCheckArgs {
  /** Address the SSH connections use. */
  readonly host: pulumi.Input<string>;
  /** SSH port. */
  readonly port: pulumi.Input<number>;
  /** What the host must present: a key, a fingerprint, or trust on first use. */
  readonly pin: pulumi.Input<HostKeyPin>;
  /**
   * Where the pin comes from, for the mismatch message (e.g. "hgx-inference:sshHostKey", or "the
   * host key this stack generated for the instance").
   */
  readonly pinSource: string;
  /** How long to wait for SSH to answer. @default 60 scans, 10 s timeout, 5 s apart */
  readonly limits?: HostKeyScanLimits;
  /** Values whose change re-runs the check (e.g. the instance id: a new machine is checked again). @default [] */
  readonly triggers?: pulumi.Input<unknown>[];
}

/**
 * The pre-flight host-key check (token `hgx:host:HostKeyCheck`): one `command.local.Command`
 * running `ssh-keyscan` where Pulumi runs, before any session to the host is opened. A key or
 * fingerprint pin fails at once on a mismatch, naming the host and both fingerprints; trust on
 * first use records the key seen the first time (the command's stdout stays in state, so later
 * deploys pin it). `hostKey` — the verified `<type> <base64>` — is what every connection pins.
 */
export class HostKeyCheck extends pulumi.ComponentResource {
  /** The verified host key line; resolves only after the check passed. */
  public readonly hostKey: pulumi.Output<string>;
  public readonly command: command.local.Command;

  constructor(name: string, args: HostKeyCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hgx:host:HostKeyCheck", name, {}, opts);
    const script = pulumi
      .all([args.host, args.port, args.pin])
      .apply(([host, port, pin]) => renderHostKeyCheckScript({ host, port }, pin as HostKeyPin, args.pinSource, args.limits));
    this.command = new command.local.Command(
      `${name}-scan`,
      { create: script, interpreter: ["/bin/bash", "-c"], triggers: args.triggers ?? [], logging: "stderr" },
      { parent: this },
    );
    this.hostKey = this.command.stdout.apply((out) => {
      const parsed = parseHostPublicKey(out.trim().split("\n").pop() ?? "");
      if ("problem" in parsed) throw new pulumi.ResourceError(`host key check printed no usable key (${parsed.problem})`, this, true);
      return hostKeyLine(parsed);
    });
    this.registerOutputs({ hostKey: this.hostKey });
  }
}

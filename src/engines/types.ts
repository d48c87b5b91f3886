/**
 * What every engine module exports: where its binary lives, which Debian package
 * provides it, and pure builders of the argv that check, run and drive it. Nothing
 * here executes; hosts/ spawns these commands and sends these signals.
 */
import type { ServicePaths } from '../config/paths.ts';

/** A program an engine's commands run, and the Debian package that installs it. */
export interface EngineBinary {
  readonly path: string;
  readonly debianPackage: string;
}

/** A program tandem runs to completion (nft, openssl): only builders of its argv. */
export interface Tool {
  /** e.g. `nftables`. */
  readonly name: string;
  /** The main program. */
  readonly binary: string;
  /** The Debian package to install when `binary` is missing (`tandem doctor`). */
  readonly debianPackage: string;
  /** Every program the builders use, for `tandem doctor`. */
  readonly binaries: readonly EngineBinary[];
}

/**
 * How a supervisor tells a running engine from a hung one: a command run every
 * `everyMs` that must exit 0 within `timeoutMs`. Like a Kubernetes liveness probe.
 */
export interface LivenessProbe {
  /** Run to completion; exit 0 = the engine answers. Killed when it overruns `timeoutMs`. */
  readonly argv: readonly string[];
  /** From the start of one probe to the start of the next (one runs at a time). */
  readonly everyMs: number;
  readonly timeoutMs: number;
  /** Failed probes in a row that restart the engine. */
  readonly failures: number;
  /** No probe runs before the engine has been up this long. */
  readonly graceMs: number;
  /**
   * Until the engine has passed a probe once, failures count only after it has been up
   * this long (a crash recovery may take minutes). @default graceMs
   */
  readonly startupMs?: number;
  /**
   * How long a hung engine gets to stop on its stop signal before SIGKILL.
   * @default the engine's stop grace
   */
  readonly stopTimeoutMs?: number;
}

export interface Engine extends Tool {
  /** Matches the service kind, e.g. `haproxy`. */
  readonly name: string;
  /** The long-running program. */
  readonly binary: string;
  /**
   * netns: start the engine in the root namespace, not with `ip netns exec`, and pass
   * the host's namespace to `runCommand`: the engine enters it itself (keepalived).
   */
  readonly startsInRootNamespace?: boolean;
  /** Validates the rendered config without starting anything; exit 0 = valid. */
  checkCommand(paths: ServicePaths): string[];
  /**
   * Runs the engine in the foreground (the supervisor owns the process). `namespace`:
   * only for engines that `startsInRootNamespace`; the others ignore it.
   */
  runCommand(paths: ServicePaths, namespace?: string): string[];
  /** Signal to the main process that reloads the config without dropping traffic; null: cannot. */
  readonly reloadSignal: NodeJS.Signals | null;
  /** Signal to the main process for a graceful stop. */
  readonly stopSignal: NodeJS.Signals;
  /** How long a graceful stop may take before the supervisor sends SIGKILL. */
  readonly stopGraceMs: number;
  /** The supervisor restarts the engine when this probe keeps failing; none: only on exit. */
  livenessProbe?(paths: ServicePaths): LivenessProbe;
}

/**
 * An engine whose listen address only its command line can set (Prometheus and the
 * exporters: Go programs configured by flags), and that says it is ready over HTTP.
 */
export interface ListeningEngine extends Omit<Engine, 'runCommand'> {
  /** Runs the engine in the foreground, listening on `listen` (`address:port`, never all addresses). */
  runCommand(paths: ServicePaths, listen: string): string[];
  /** Answers 200 over HTTP on `listen` once the engine serves. */
  readonly readyPath: string;
}

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
}

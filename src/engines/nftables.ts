/**
 * nft 1.0: checks, loads, lists and removes a host's ruleset (render/nftables.ts). Not a
 * long-running engine: hosts/ runs these inside the host's namespace (`ip netns exec`)
 * and they exit. `--check` parses and evaluates the file against the kernel without
 * committing anything (it needs CAP_NET_ADMIN, as every nft command does).
 */
import type { Tool } from './types.ts';

const NFT = '/usr/sbin/nft';
const TABLE = ['inet', 'tandem'] as const;

export interface NftablesTool extends Tool {
  /** Validates a ruleset file without loading it; exit 0 = valid. */
  checkCommand(file: string): string[];
  /** Loads a ruleset file in one transaction (the file replaces tandem's table). */
  applyCommand(file: string): string[];
  /** Removes tandem's table (and with it every rule); fails when there is none. */
  removeCommand(): string[];
  /** Prints tandem's table; fails when there is none. */
  listCommand(): string[];
}

export const nftablesEngine: NftablesTool = {
  name: 'nftables',
  binary: NFT,
  debianPackage: 'nftables',
  binaries: [{ path: NFT, debianPackage: 'nftables' }],
  checkCommand: (file: string): string[] => [NFT, '--check', '--file', file],
  applyCommand: (file: string): string[] => [NFT, '--file', file],
  removeCommand: (): string[] => [NFT, 'delete', 'table', ...TABLE],
  listCommand: (): string[] => [NFT, 'list', 'table', ...TABLE],
};

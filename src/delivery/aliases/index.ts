/**
 * Aliases: the aliases file (parse.ts), its database (database.ts), and
 * expansion (resolve.ts).
 *
 *   openAliases(config, { isLocalDomain }) → { lookup(name): string[] | undefined, warnings, ... }
 *   resolveAliases(address, lookup, { isLocalDomain, isUser, maxDepth, noAlias })
 *       → { targets, errors, duplicates }: pure, the look-up is the only input
 *   expandAlias(name, lookup, seen?) → the immediate right-hand side, classified
 *   parseAliases(text, { isLocalDomain, blankSub }) → entries, problems (with line numbers), statistics
 *   rebuildAliasDatabase(file, options) → what newaliases does for one file
 */
export { parseAliases, problemMessage, problemsExit, MAX_ALIAS_LINE } from './parse.js';
export type { AliasEntry, AliasProblem, AliasStats, ParsedAliases, AliasParseOptions } from './parse.js';
export { openAliases, rebuildAliasDatabase, waitForAliasDatabase, aliasSpecFile, SENTINEL } from './database.js';
export type { AliasDatabase, AliasSource, OpenAliasOptions } from './database.js';
export { resolveAliases, expandAlias, listOwner } from './resolve.js';
export type { AliasLookup, ResolveOptions, ResolvedTarget, ResolveError, Resolution } from './resolve.js';
export { classifyTarget, splitAddressList, aliasKey } from './targets.js';
export type { AliasTarget } from './targets.js';

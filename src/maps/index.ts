/**
 * Keyed maps (access, mailertable, virtusertable, the alias database): the
 * file format and the reader other code uses.
 *
 *   openMap('/etc/mail/access') → { get(key), getAll(key), entries(), type, close() }
 *       reads /etc/mail/access.db; keys are lower-cased unless { foldCase: false }
 *       (a K line's -f); re-opens the file by itself when it has been rebuilt.
 *   buildMap(name, { type }, (writer) => ...) → builds name.db atomically.
 *   makemapMain(argv0, args) → the makemap command (makemap.ts).
 */
export { openMap, buildMap, isMapFile, mapFilePath } from './map-file.js';
export type { MapReader, MapWriter, MapEntry, MapType, OpenMapOptions, BuildOptions, OnDuplicate } from './map-file.js';

/** The library's version, written into checkpoints (test/packaging checks it equals package.json's). */
export const VERSION = '0.1.0';

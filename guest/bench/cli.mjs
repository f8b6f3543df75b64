// The benches' command-line options: `--name value`.

/**
 * @param {string} name
 * @param {number} dflt
 * @returns {number} the number after `--name`, or `dflt` when the option is not given
 */
export function numberArg(name, dflt) {
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) return dflt;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value)) throw new Error(`--${name} takes a number, not ${process.argv[at + 1]}`);
  return value;
}

/**
 * @param {string} name
 * @returns {string[] | undefined} the comma-separated list after `--name`, or undefined
 */
export function listArg(name) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? undefined : (process.argv[at + 1] ?? '').split(',').filter(Boolean);
}

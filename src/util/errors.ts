/** Error construction shared by every class, so messages name the same things in the same order. */

/** How a param is named in messages: its flat index, and its name when it has one. */
export function describeParam(index: number, name?: string): string {
  return name ? `param ${index} ('${name}')` : `param ${index}`;
}

/** Elements of an array that a message shows. */
const SHOWN_ELEMENTS = 8;

/** A value shown in an error message: short, and unambiguous about its type. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as ArrayLike<unknown>).length})`;
  if (Array.isArray(value)) {
    // Holes shown as holes; a long array by its first elements and its length.
    const shown = Array.from({ length: Math.min(value.length, SHOWN_ELEMENTS) }, (_, i) => (i in value ? showValue(value[i]) : ''));
    return `[${shown.join(', ')}${value.length > SHOWN_ELEMENTS ? `, … (${value.length} elements)` : ''}]`;
  }
  if (typeof value === 'object') return (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value;
}

/**
 * Throw `new ErrorType("<owner>: <where>: <problem>; <allowed>")`. Every validation error goes through
 * here so that it names the class, the place, the value and what is allowed.
 */
export function fail(
  ErrorType: new (message: string) => Error,
  owner: string,
  where: string,
  problem: string,
  allowed: string,
): never {
  throw new ErrorType(`${owner}: ${where}: ${problem}; ${allowed}`);
}

/**
 * Throw on a key that is not in `allowed`, so a misspelled option (PyTorch's `weight_decay`, say) is
 * refused rather than silently ignored. `elsewhere` names keys that belong to another object.
 */
export function refuseUnknownKeys(owner: string, where: string, object: object, allowed: readonly string[], elsewhere: Record<string, string> = {}): void {
  for (const key of Object.keys(object)) {
    if (allowed.includes(key)) continue;
    const camel = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    const hint = key in elsewhere ? elsewhere[key]!
      : camel !== key && allowed.includes(camel) ? `did you mean '${camel}'? options are camelCase`
        : `allowed: ${allowed.join(', ')}`;
    fail(TypeError, owner, where, `unknown option '${key}'`, hint);
  }
}

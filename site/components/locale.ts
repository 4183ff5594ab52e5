// Site widgets are written once and speak both languages: each passes its strings as { en, ko }.
import useDocusaurusContext from '@docusaurus/useDocusaurusContext';

export type Locale = 'en' | 'ko';

/** The page's locale. */
export function useLocale(): Locale {
  return useDocusaurusContext().i18n.currentLocale === 'ko' ? 'ko' : 'en';
}

/** The strings of the page's locale. */
export function useStrings<T>(strings: Record<Locale, T>): T {
  return strings[useLocale()];
}

/** How the tables name a preset's param dtype. */
export const PARAM_DTYPE_NAMES: Record<Locale, Record<'fp32' | 'bf16', string>> = {
  en: { fp32: 'fp32 params', bf16: 'bf16 params' },
  ko: { fp32: 'fp32 파라미터', bf16: 'bf16 파라미터' },
};

/** Bytes in decimal units (GB = 1e9), so that "1B params need 8 GB" of AdamW state. */
export function formatDecimalBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${Number(value.toPrecision(3))} ${units[unit]}`;
}

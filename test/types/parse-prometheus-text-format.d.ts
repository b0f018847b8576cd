/** The parser ships no types; this is the shape its README and source give its output. */
declare module 'parse-prometheus-text-format' {
  export interface ParsedSample {
    readonly value?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly buckets?: Readonly<Record<string, string>>;
    readonly quantiles?: Readonly<Record<string, string>>;
    readonly count?: string;
    readonly sum?: string;
  }

  export interface ParsedFamily {
    readonly name: string;
    readonly help: string;
    readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    readonly metrics: readonly ParsedSample[];
  }

  /** Parses Prometheus text format 0.0.4; throws on a line that is not valid. */
  // eslint-disable-next-line no-restricted-syntax -- describes the package's own default export
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}

/**
 * Writes the sample datasets shipped in `datasets/`, which `data_analysis` tasks of the local
 * runtime can name as `ref://dataset/sample`, and which the tests check statistics against.
 *
 * The data is made up and fixed: a seeded generator makes the same files on every run, so
 * running this again changes nothing unless the script changes.
 *
 * `sample.csv`: 300 readings, ten minutes apart, of five sensors, shaped so that every kind of
 * insight has something to find:
 * - `temperature_c` follows a daily wave, and `power_w` follows the temperature closely: the
 *   strongly correlated pair;
 * - `pressure_hpa` lacks about a quarter of its values (empty or `NA`): the missing-values column;
 * - `vibration_mm_s` stays near 2 except for five readings far off it: the outliers;
 * - `humidity_pct` is noise, correlated with nothing; `sensor_id` is the text column.
 *
 * `sample.jsonl`: a short log of machine cycles, with a key that some lines lack.
 *
 * Usage: `npx tsx scripts/generate-sample-datasets.ts`
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DATASETS_FOLDER = fileURLToPath(new URL('../datasets/', import.meta.url));

const CSV_ROWS = 300;
const READING_INTERVAL_MS = 10 * 60 * 1_000;
const FIRST_READING = Date.parse('2026-03-01T00:00:00Z');
/** Readings per day, the period of the temperature wave. */
const READINGS_PER_DAY = 144;
const MISSING_PRESSURE_SHARE = 0.25;

/** The rows whose vibration is far off, and what it reads there. */
const VIBRATION_OUTLIERS: ReadonlyMap<number, number> = new Map([
  [37, 9.81],
  [88, 12.4],
  [151, 0.05],
  [203, 15.02],
  [266, 17.65],
]);

/** Sensors with the share of readings each reports. */
const SENSORS = [
  ['sensor-a', 0.3],
  ['sensor-b', 0.25],
  ['sensor-c', 0.2],
  ['sensor-d', 0.15],
  ['sensor-e', 0.1],
] as const;

/** A 32-bit linear congruential generator (Numerical Recipes' constants), in [0, 1). */
const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0;

  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;

    return state / 0x1_0000_0000;
  };
};

const random = seededRandom(20_260_301);

const between = (low: number, high: number): number => low + (high - low) * random();

const pickSensor = (): string => {
  let draw = random();
  for (const [sensor, share] of SENSORS) {
    if (draw < share) return sensor;
    draw -= share;
  }

  return SENSORS[0][0];
};

const csvRow = (row: number): string => {
  const timestamp = new Date(FIRST_READING + row * READING_INTERVAL_MS).toISOString();
  const wave = Math.sin((2 * Math.PI * row) / READINGS_PER_DAY);
  const temperature = 21 + 4 * wave + between(-0.6, 0.6);
  const power = 80 + 9.5 * temperature + between(-2, 2);
  const humidity = 40 + between(-8, 8);
  const pressure = 1_012 + between(-4, 4);
  const pressureMissing = random() < MISSING_PRESSURE_SHARE;
  const vibration = VIBRATION_OUTLIERS.get(row) ?? 2 + between(-0.35, 0.35);

  return [
    timestamp,
    pickSensor(),
    temperature.toFixed(2),
    power.toFixed(1),
    humidity.toFixed(1),
    pressureMissing ? (row % 2 === 0 ? '' : 'NA') : pressure.toFixed(1),
    vibration.toFixed(3),
  ].join(',');
};

const sampleCsv = (): string => {
  const header =
    'timestamp,sensor_id,temperature_c,power_w,humidity_pct,pressure_hpa,vibration_mm_s';
  const rows = Array.from({ length: CSV_ROWS }, (_, row) => csvRow(row));

  return `${[header, ...rows].join('\n')}\n`;
};

const MACHINES = ['press-1', 'press-2', 'lathe-1'] as const;
const OPERATORS = ['kim', 'ana', null] as const;
const JSONL_LINES = 24;

const sampleJsonLines = (): string => {
  const lines = Array.from({ length: JSONL_LINES }, (_, line) => {
    const cycle = {
      machine: MACHINES[line % MACHINES.length],
      cycle_ms: Math.round(between(480, 560)),
      temperature_c: Number(between(58, 66).toFixed(1)),
      ok: line % 7 !== 5,
      // Every fourth line has no operator key at all; some others say null.
      ...(line % 4 === 3 ? {} : { operator: OPERATORS[line % OPERATORS.length] }),
    };

    return JSON.stringify(cycle);
  });

  return `${lines.join('\n')}\n`;
};

const main = async (): Promise<void> => {
  await mkdir(DATASETS_FOLDER, { recursive: true });
  await writeFile(join(DATASETS_FOLDER, 'sample.csv'), sampleCsv());
  await writeFile(join(DATASETS_FOLDER, 'sample.jsonl'), sampleJsonLines());
  process.stdout.write(`wrote sample.csv and sample.jsonl in ${DATASETS_FOLDER}\n`);
};

await main();

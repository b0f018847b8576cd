/**
 * How catalog identifiers become construct ids and AWS names. Construct ids feed CloudFormation
 * logical ids: renaming one replaces the resource, which for a table with a fixed physical name
 * fails the deploy. Change these rules only with a migration plan.
 */

/** `rateCounters` → `RateCounters`, for construct ids. */
export const pascalCase = (id: string): string => id.charAt(0).toUpperCase() + id.slice(1);

/** `getHealth` → `get-health`, for names people read in the console. */
export const kebabCase = (id: string): string =>
  id.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

/** The physical name of a gateway function: `blux-<stage>-<kebab id>`. */
export const gatewayFunctionName = (stage: string, id: string): string =>
  `blux-${stage}-${kebabCase(id)}`;

/** Catalog ids become logical ids and function names, so they stay plain camelCase. */
export const CATALOG_ID_PATTERN = /^[a-z][a-zA-Z0-9]*$/;

/**
 * The one structured logger every handler shares: JSON lines in AWS, indented JSON in the
 * local runtime (`POWERTOOLS_DEV`). Log level from `LOG_LEVEL`.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'blux-gateway',
  logLevel: (process.env.LOG_LEVEL ?? 'INFO') as 'INFO',
});

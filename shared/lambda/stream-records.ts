/**
 * Translates Lambda's DynamoDB stream records into the stored changes the event producers read,
 * so that only this folder and `functions/` know Lambda's event types.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import type { StoredChange, StreamImage } from '@shared/events/stream-change';

/** The change a record reports, or `undefined` for a record without a known event name. */
export const storedChangeOf = (record: DynamoDBRecord): StoredChange | undefined => {
  const kind = record.eventName;
  if (kind === undefined) {
    return undefined;
  }
  const newImage = record.dynamodb?.NewImage as StreamImage | undefined;
  const oldImage = record.dynamodb?.OldImage as StreamImage | undefined;

  return {
    kind,
    ...(newImage === undefined ? {} : { newImage }),
    ...(oldImage === undefined ? {} : { oldImage }),
  };
};

/**
 * A stored change as the event producers see it: what kind of write it was and the item before
 * and after, in DynamoDB's attribute-value shape. The Lambda stream handlers translate their
 * records into this, so that the producers in `shared/` never see Lambda's event types.
 */
import { CodedError } from '@shared/errors/coded-error';

/** An attribute value of a stream image, as far as the producers read them. */
export interface ImageValue {
  readonly S?: string;
  readonly N?: string;
  readonly BOOL?: boolean;
  readonly NULL?: boolean;
  readonly M?: Readonly<Record<string, ImageValue>>;
  readonly L?: readonly ImageValue[];
}

export type StreamImage = Readonly<Record<string, ImageValue>>;

export interface StoredChange {
  readonly kind: 'INSERT' | 'MODIFY' | 'REMOVE';
  readonly newImage?: StreamImage;
  readonly oldImage?: StreamImage;
}

export const PRODUCER_ERROR_CODES = ['producer.malformedImage'] as const;

export type ProducerErrorCode = (typeof PRODUCER_ERROR_CODES)[number];

/**
 * A stream image this code cannot read as the layout it documents: a fault for the operator.
 * The stream consumer throws it, so that the batch is retried and, bisected down to the bad
 * record, ends in the failure destination instead of being silently dropped.
 */
export class ProducerError extends CodedError<ProducerErrorCode> {
  override readonly name = 'ProducerError';
}

/** The string attribute `name` of an image, or `undefined`. */
export const optionalString = (image: StreamImage, name: string): string | undefined =>
  image[name]?.S;

/** The string attribute `name` of an image; a missing one is a malformed image. */
export const requiredString = (image: StreamImage, what: string, name: string): string => {
  const value = image[name]?.S;
  if (value === undefined) {
    throw new ProducerError('producer.malformedImage', `${what} has no string ${name}`);
  }

  return value;
};

/** The whole-number attribute `name` of an image, or `undefined` when absent. */
export const optionalInteger = (
  image: StreamImage,
  what: string,
  name: string,
): number | undefined => {
  const text = image[name]?.N;
  if (text === undefined) {
    return undefined;
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new ProducerError('producer.malformedImage', `${what} has no whole number ${name}`);
  }

  return value;
};

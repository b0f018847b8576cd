/**
 * Files that hold private keys in the local runtime: written whole or not at all, readable by
 * their owner only, and created by exactly one process when several start at once.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Readable by the owner only, in a directory only they enter. */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Writes `contents` to `file` through a temporary file and a move, so that a reader sees the
 * old file or the new one, never a part. With `exclusive` the move is a hard link, which fails
 * with `EEXIST` when another process wrote the file first.
 */
export const writePrivateFile = async (
  file: string,
  contents: string,
  exclusive: boolean,
): Promise<void> => {
  await mkdir(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }

  try {
    await (exclusive ? link(temporary, file) : rename(temporary, file));
  } finally {
    await rm(temporary, { force: true });
  }
};

/**
 * What `file` holds, or at first start what `create` makes, written there. When two processes
 * start together, the one that wrote first wins and the other reads its value.
 */
export const loadOrCreatePrivateFile = async <T>(
  file: string,
  read: (file: string) => Promise<T | undefined>,
  create: () => Promise<T>,
  serialize: (value: T) => string,
): Promise<T> => {
  const existing = await read(file);
  if (existing !== undefined) {
    return existing;
  }

  const created = await create();
  try {
    await writePrivateFile(file, serialize(created), true);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw error;
    }

    return (await read(file)) ?? created;
  }

  return created;
};

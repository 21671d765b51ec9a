// Files: read in the browser, encrypted and uploaded by the SDK (in Rust); images get a small
// JPEG preview made here with a canvas (image scaling, not cryptography), encrypted like the file.
import { Client, j } from './zynk';

const THUMB = 320;

async function thumbnailOf(file: File): Promise<{ jpeg: Uint8Array; w: number; h: number; width: number; height: number } | null> {
  if (!file.type.startsWith('image/')) return null;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, THUMB / Math.max(bitmap.width, bitmap.height));
    const w = Math.max(1, Math.round(bitmap.width * scale));
    const h = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(w, h);
    canvas.getContext('2d')!.drawImage(bitmap, 0, 0, w, h);
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.8 });
    return { jpeg: new Uint8Array(await blob.arrayBuffer()), w, h, width: bitmap.width, height: bitmap.height };
  } catch {
    return null;
  }
}

export async function sendFile(client: Client, conversation: string, file: File, progress: (sent: number, total: number) => void) {
  const data = new Uint8Array(await file.arrayBuffer());
  const thumb = await thumbnailOf(file);
  return j(
    client.send_file(
      conversation,
      file.name,
      file.type || 'application/octet-stream',
      data,
      thumb?.width ?? 0,
      thumb?.height ?? 0,
      thumb?.jpeg,
      thumb?.w ?? 0,
      thumb?.h ?? 0,
      progress,
    ),
  );
}

const thumbnails = new Map<string, Promise<string | null>>();

/// A blob: URL of a file message's decrypted thumbnail (cached per message).
export function thumbnailUrl(client: Client, messageId: string): Promise<string | null> {
  let found = thumbnails.get(messageId);
  if (!found) {
    found = (client.file_thumbnail(messageId) as Promise<Uint8Array | undefined>).then((bytes) =>
      bytes ? URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' })) : null,
    );
    thumbnails.set(messageId, found);
  }
  return found;
}

/// Download, decrypt and save a file.
export async function saveFile(client: Client, messageId: string, name: string, type: string) {
  const bytes = (await client.file_bytes(messageId)) as Uint8Array;
  const url = URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

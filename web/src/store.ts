// The device's sealed state in IndexedDB. The bytes are sealed in Rust (AES-256-GCM under a key
// derived from the password with Argon2id, the SDK's Vault): nothing here is readable without
// the password, and no token is ever kept in localStorage or sessionStorage.

const DB = 'zynk';
const STORE = 'device';
const KEY = 'state';

export interface StoredDevice {
  username: string;
  bytes: Uint8Array;
}

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run<T>(mode: IDBTransactionMode, body: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = body(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export async function loadDevice(): Promise<StoredDevice | undefined> {
  const value = await run('readonly', (s) => s.get(KEY));
  return value as StoredDevice | undefined;
}

export async function saveDevice(device: StoredDevice): Promise<void> {
  await run('readwrite', (s) => s.put(device, KEY));
}

export async function eraseDevice(): Promise<void> {
  await run('readwrite', (s) => s.delete(KEY));
}

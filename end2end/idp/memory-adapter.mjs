// A deliberately in-memory storage adapter for the Dev IdP: its grants and sessions should vanish on restart.
// (oidc-provider warns loudly when it falls back to its own; this one says the choice is on purpose.)
const stores = new Map();

export class MemoryAdapter {
  constructor(model) {
    this.model = model;
    if (!stores.has(model)) stores.set(model, new Map());
    this.store = stores.get(model);
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
    this.store.set(id, { payload, expiresAt });
    if (payload.grantId) this.#index('grant', payload.grantId).add(id);
    if (payload.userCode) stores.set(`userCode:${payload.userCode}`, id);
    if (payload.uid) stores.set(`uid:${this.model}:${payload.uid}`, id);
  }

  async find(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt && entry.expiresAt < Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    const id = stores.get(`uid:${this.model}:${uid}`);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode) {
    const id = stores.get(`userCode:${userCode}`);
    return id ? this.find(id) : undefined;
  }

  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [model, store] of stores) {
      if (store instanceof Map && !String(model).includes(':')) {
        for (const id of this.#index('grant', grantId)) store.delete(id);
      }
    }
    stores.delete(`grant:${grantId}`);
  }

  #index(kind, value) {
    const key = `${kind}:${value}`;
    if (!stores.has(key)) stores.set(key, new Set());
    return stores.get(key);
  }
}

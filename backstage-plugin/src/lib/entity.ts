/**
 * Which Gatekey API an API entity page is about: the API whose `entity_ref` is the entity's ref,
 * else the one named by the `gatekey.dev/api-id` annotation, else the one whose id is the
 * entity's `metadata.name` (the conventions Gatekey's catalog source uses as well).
 */
import { stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import type { ApiSummary } from '@gatekey/client';

export const GATEKEY_API_ID_ANNOTATION = 'gatekey.dev/api-id';

export function findGatekeyApi(apis: ApiSummary[], entity: Entity): ApiSummary | undefined {
  const ref = stringifyEntityRef(entity).toLocaleLowerCase('en-US');
  const byRef = apis.find(api => api.entity_ref?.toLocaleLowerCase('en-US') === ref);
  if (byRef) return byRef;
  const id = gatekeyApiId(entity);
  return apis.find(api => api.id === id);
}

/** The Gatekey API id an entity names: its `gatekey.dev/api-id` annotation, else its name. */
export function gatekeyApiId(entity: Entity): string {
  return entity.metadata.annotations?.[GATEKEY_API_ID_ANNOTATION] ?? entity.metadata.name;
}

/** Whether the entity carries any `gatekey.dev/` annotation, i.e. is meant to be served. */
export function isGatekeyAnnotated(entity: Entity): boolean {
  return Object.keys(entity.metadata.annotations ?? {}).some(key => key.startsWith('gatekey.dev/'));
}

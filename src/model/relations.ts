import type { EntityManager, EntityMetadata, ObjectLiteral } from 'typeorm';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata';
import type { ResourceModel } from './resource-model';

/**
 * Find options for rows the resolvers return: a many-to-one without a mapped
 * foreign-key property is not on a loaded row, so its key is loaded with it
 * (`row.reviewer = { id }`, from the same query) for the relation field to resolve.
 */
export function rowFindOptions(model: ResourceModel): { loadRelationIds?: { relations: string[]; disableMixedMap: true } } {
  const relations = model.fields.filter((f) => f.relation && !f.foreignKey && f.readable).map((f) => f.name);
  return relations.length ? { loadRelationIds: { relations, disableMixedMap: true } } : {};
}

/**
 * The rows of `dependant` whose many-to-one `relation` points at the row
 * `id` of its target, in primary-key order: the rows a cascade takes with
 * it, or whose visibility follows it.
 */
export function rowsReferencing(manager: EntityManager, dependant: EntityMetadata, relation: RelationMetadata, id: string | number): Promise<ObjectLiteral[]> {
  const pk = relation.inverseEntityMetadata.primaryColumns[0].propertyName;
  return manager.find(dependant.target, {
    where: { [relation.propertyName]: { [pk]: id } } as Record<string, any>,
    order: { [dependant.primaryColumns[0].propertyName]: 'ASC' } as Record<string, any>,
  });
}

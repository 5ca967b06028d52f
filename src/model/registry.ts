import type { DataSource, EntityMetadata } from 'typeorm';
import type { Resource } from '../define/resource';
import { SchemaDefinitionError } from '../errors';
import { buildModel, type FieldModel, type ResourceModel, type TextLimits } from './resource-model';

/**
 * Every exposed resource of one schema, found by entity class, by GraphQL
 * type name or by the custom event it declares. Built once; relation fields
 * are linked to the models of their target entities here.
 */
export class ModelRegistry {
  readonly all: readonly ResourceModel[];
  private readonly byTarget: Map<unknown, ResourceModel>;
  private readonly byType: Map<string, ResourceModel>;

  constructor(models: ResourceModel[]) {
    this.all = models;
    this.byTarget = new Map(models.map((m) => [m.metadata.target, m]));
    this.byType = new Map();
    for (const m of models) {
      if (this.byType.has(m.names.type)) throw new SchemaDefinitionError(`${m.names.type} is exposed twice`);
      this.byType.set(m.names.type, m);
    }
    this.link();
  }

  /** Models of `resources` on an initialized DataSource (or one whose metadata is built). */
  static build(dataSource: DataSource, resources: Resource<any, any>[], limits: TextLimits = {}): ModelRegistry {
    return new ModelRegistry(resources.map((r) => buildModel(dataSource, r, limits)));
  }

  /** The model of an entity class (or of its metadata's `target`). */
  forTarget(target: unknown): ResourceModel | undefined {
    return this.byTarget.get(target);
  }

  forMetadata(metadata: EntityMetadata): ResourceModel | undefined {
    return this.byTarget.get(metadata.target);
  }

  forType(type: string): ResourceModel | undefined {
    return this.byType.get(type);
  }

  /** The model a many-to-one field points at (linked, so always exposed). */
  targetOf(field: FieldModel): ResourceModel {
    return this.byTarget.get(field.relation!.inverseEntityMetadata.target)!;
  }

  /** The model that declares the custom event `name`. */
  withEvent(name: string): ResourceModel | undefined {
    return this.all.find((m) => m.options.events && name in m.options.events);
  }

  /** Links relation fields to the target resource's GraphQL type; a relation to an unexposed entity is dropped. */
  private link(): void {
    for (const m of this.all) {
      m.fields = m.fields.filter((f) => {
        if (!f.relation) return true;
        const target = this.byTarget.get(f.relation.inverseEntityMetadata.target);
        if (!target) {
          if (m.options.fields?.includes(f.name)) {
            throw new SchemaDefinitionError(`${m.names.type}.${f.name}: its entity is not an exposed resource`);
          }
          return false;
        }
        f.graphqlType = target.names.type;
        return true;
      });
      m.byName = new Map(m.fields.map((f) => [f.name, f]));
    }
  }
}

import type { DataSource, EntityMetadata } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata';
import { SchemaDefinitionError } from '../errors';
import type { FieldRule } from '../define/permissions';
import type { Resource, ResourceOptions } from '../define/resource';
import { enumValuesOf, scalarFor } from './column-types';
import { names, typeNames, type TypeNames } from './names';

/** How one exposed property appears in GraphQL. */
export interface FieldModel {
  /** Entity property name = GraphQL field name. */
  name: string;
  column?: ColumnMetadata;
  /** Set for many-to-one relations: an object on output, an ID on input. */
  relation?: RelationMetadata;
  /** For a relation: the property holding the foreign key on this entity, if mapped. */
  foreignKey?: ColumnMetadata;
  /** Named GraphQL type: ID, Int, Float, String, Boolean, DateTime, JSON, an enum, or (relations) the target's type. */
  graphqlType: string;
  isArray: boolean;
  /** Whether a row may hold null here (from the column). */
  nullable: boolean;
  readable: boolean;
  /** Present in CreateXInput. */
  creatable: boolean;
  /** Present in PatchXInput. */
  patchable: boolean;
  /** Required in CreateXInput: not nullable, no default, not generated. */
  requiredOnCreate: boolean;
  access?: FieldRule;
  /** Enum: GraphQL value name → stored value. */
  enumValues?: Record<string, string | number>;
  /**
   * Characters a String field takes in an input, checked before writing
   * (BAD_USER_INPUT): the resource's `maxLength` for it, else the column's
   * length (varchar/char), else the server's `maxTextLength`.
   */
  maxLength?: number;
}

/** The server's defaults for text input (see `LiveRuntimeOptions`). */
export interface TextLimits {
  /** Characters a String input field without a length of its own takes; default 10,000. */
  maxTextLength?: number;
  /** Characters a String value of a declared list filter takes; default 1,000. */
  maxFilterLength?: number;
}

export interface ResourceModel {
  resource: Resource;
  options: ResourceOptions;
  metadata: EntityMetadata;
  names: TypeNames;
  primary: ColumnMetadata;
  /** Whether the primary key is numeric (ids are validated as integers). */
  numericId: boolean;
  fields: FieldModel[];
  byName: Map<string, FieldModel>;
  /** Characters a String value of a declared filter takes. */
  maxFilterLength: number;
}

export function buildModel(dataSource: DataSource, res: Resource, limits: TextLimits = {}): ResourceModel {
  const metadata = dataSource.getMetadata(res.entity);
  const options = res.options;
  const type = options.name ?? metadata.name;
  const n = typeNames(type, options.plural);
  if (metadata.primaryColumns.length !== 1) {
    throw new SchemaDefinitionError(`${type}: exactly one primary key column is supported`);
  }
  const primary = metadata.primaryColumns[0];
  const readOnly = new Set<string>(options.readOnly ?? []);
  const writeOnly = new Set<string>(options.writeOnly ?? []);
  const manyToOne = metadata.relations.filter((r) => r.isManyToOne || (r.isOneToOne && r.isOwning));
  const fkColumns = new Set(manyToOne.flatMap((r) => r.joinColumns.map((c) => c.propertyName)));

  const known = new Set([
    ...metadata.columns.filter((c) => !c.relationMetadata || c.propertyName !== c.relationMetadata.propertyName).map((c) => c.propertyName),
    ...manyToOne.map((r) => r.propertyName),
  ]);
  const wanted = options.fields ?? [
    ...metadata.columns.filter((c) => !fkColumns.has(c.propertyName) && !c.relationMetadata).map((c) => c.propertyName),
    ...manyToOne.map((r) => r.propertyName),
  ];
  for (const name of [...wanted, ...readOnly, ...writeOnly, ...Object.keys(options.fieldAccess ?? {})]) {
    if (!known.has(name)) throw new SchemaDefinitionError(`${type}: unknown field "${name}"`);
  }

  const fields: FieldModel[] = [];
  for (const name of wanted) {
    const relation = manyToOne.find((r) => r.propertyName === name);
    const column = relation ? undefined : metadata.columns.find((c) => c.propertyName === name)!;
    const access = options.fieldAccess?.[name];
    if (relation) {
      if (relation.joinColumns.length !== 1) throw new SchemaDefinitionError(`${type}.${name}: composite foreign keys are not supported`);
      const join = relation.joinColumns[0];
      const foreignKey = metadata.columns.find((c) => c.databaseName === join.databaseName && c.propertyName !== name);
      const locked = readOnly.has(name);
      fields.push({
        name, relation, foreignKey, graphqlType: '', isArray: false,
        nullable: relation.isNullable,
        readable: !writeOnly.has(name),
        creatable: !locked, patchable: !locked,
        requiredOnCreate: !relation.isNullable,
        access,
      });
      continue;
    }
    const c = column!;
    const generated = c.isGenerated || c.isCreateDate || c.isUpdateDate || c.isDeleteDate || c.isVersion || !!c.asExpression;
    const locked = readOnly.has(name) || generated || c.isPrimary;
    const isEnum = c.type === 'enum' || c.type === 'simple-enum' || (c.enum?.length ?? 0) > 0;
    const enumValues = isEnum ? enumValuesOf(c, `${type}.${name}`) : undefined;
    const graphqlType = c.isPrimary ? 'ID' : isEnum ? names.enumType(n, name) : scalarFor(dataSource, c);
    const length = Number(c.length);
    fields.push({
      // simple-array holds a string[] in a text column: a list on the wire, like an array column.
      name, column: c, graphqlType, isArray: c.isArray || c.type === 'simple-array',
      nullable: c.isNullable,
      readable: !writeOnly.has(name),
      creatable: !locked && c.isInsert,
      patchable: !locked && c.isUpdate,
      requiredOnCreate: !c.isNullable && c.default === undefined && !generated,
      access, enumValues,
      maxLength: graphqlType === 'String' ? options.maxLength?.[name] ?? (length > 0 ? length : limits.maxTextLength ?? 10_000) : undefined,
    });
  }
  const pkType = scalarFor(dataSource, primary);
  return {
    resource: res, options, metadata, names: n, primary,
    numericId: pkType === 'Int' || /^(bigint|int8)$/i.test(String(primary.type)),
    fields, byName: new Map(fields.map((f) => [f.name, f])),
    maxFilterLength: limits.maxFilterLength ?? 1000,
  };
}


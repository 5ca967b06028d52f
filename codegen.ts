import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the demo's client operations (GraphQL Code Generator,
 * client preset), generated from the committed SDL: `npm run codegen`.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['example/client/**/*.ts', '!example/client/generated/**'],
  ignoreNoDocuments: false,
  generates: {
    'example/client/generated/': {
      preset: 'client',
      config: { useTypeImports: true, enumsAsTypes: true, scalars: { DateTime: 'string', JSON: 'unknown', ID: 'string' } },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;

// typescript-eslint, type-checked: no-floating-promises and no-misused-promises matter in koa.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['node_modules/**', '.baton-data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'off',
      // oidc-provider hooks and the adapter contract are async by interface, even where a body needs no await
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // no import circle in the shipped code (type imports count: a circle is a knot even when it erases)
    files: ['server/src/**/*.ts', 'clients/src/**/*.ts', 'adapters/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [importX.createNodeResolver()],
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    // the seam: server/src/provider/internals.ts and the patches it lists (provider/patches/) are the only
    // importers of oidc-provider's internals
    files: ['**/*.ts'],
    ignores: [
      'server/src/provider/internals.ts',
      'server/src/provider/patches/**',
      'types/oidc-provider-internals.d.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['oidc-provider/lib/*'],
              message:
                'oidc-provider internals go through server/src/provider/internals.ts or provider/patches/ (the seam)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/test/**', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['*.js'], ...tseslint.configs.disableTypeChecked },
);

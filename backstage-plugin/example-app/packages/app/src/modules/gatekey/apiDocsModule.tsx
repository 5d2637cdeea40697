/**
 * Swagger UI "Try it out" with the key minted by the Gatekey card: api-docs' config API replaced
 * by one whose OpenAPI widget passes the plugin's `requestInterceptor` (backstage-plugin/README.md,
 * "api-docs"). Everything else about api-docs stays as installed.
 */
import {
  ApiBlueprint,
  createFrontendModule,
} from '@backstage/frontend-plugin-api';
import {
  OpenApiDefinitionWidget,
  apiDocsConfigRef,
  defaultDefinitionWidgets,
} from '@backstage/plugin-api-docs';
import { requestInterceptor } from '@gatekey/backstage-plugin';

const apiDocsConfig = ApiBlueprint.make({
  name: 'config',
  params: defineParams =>
    defineParams({
      api: apiDocsConfigRef,
      deps: {},
      factory: () => {
        const widgets = defaultDefinitionWidgets().map(widget =>
          widget.type === 'openapi'
            ? {
                ...widget,
                component: (definition: string) => (
                  <OpenApiDefinitionWidget
                    definition={definition}
                    requestInterceptor={requestInterceptor}
                  />
                ),
              }
            : widget,
        );
        return {
          getApiDefinitionWidget: entity =>
            widgets.find(widget => widget.type === entity.spec.type),
        };
      },
    }),
});

export const gatekeyApiDocsModule = createFrontendModule({
  pluginId: 'api-docs',
  extensions: [apiDocsConfig],
});

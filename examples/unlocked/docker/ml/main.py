print('ml')
